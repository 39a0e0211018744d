"""Evidence of service for statutory notices: the exact bytes that went to the provider, kept
write-once for the council's evidence period, apart from everything the retention purge forgets.

Why the exception: a council that serves a statutory notice (a council tax reminder before a
liability order, a planning decision) may have to prove in court what it sent, to whom and when,
years later (the Council Tax (Administration and Enforcement) Regulations 1992 and the Limitation
Act 1980 set the horizon; six years is the usual period). The council records this as its lawful
basis (UK GDPR Article 6(1)(c) or (e)); erasure of a customer does not remove it (Article 17(3)(b)
and (e)). Only statutory templates leave evidence.

Two stores behind one protocol (``base.EvidenceStore``: ``keep``, ``find``, and ``bundle`` over
``find``): a folder (``folder.FolderEvidence``, the default) or an S3 bucket
(``s3.S3Evidence``, boto3, loaded only when configured). ``open_evidence`` opens the one the
settings name, for the service, the customers API and ``notifier evidence export`` alike.
"""

from __future__ import annotations

from notifier.errors import EvidenceConflict, EvidenceError, EvidenceUnavailable
from notifier.evidence.base import Evidence, EvidenceStore, Found
from notifier.evidence.folder import FolderEvidence
from notifier.settings import StoreSettings

__all__ = [
    "Evidence",
    "EvidenceConflict",
    "EvidenceError",
    "EvidenceStore",
    "EvidenceUnavailable",
    "FolderEvidence",
    "Found",
    "open_evidence",
]


async def open_evidence(store: StoreSettings) -> EvidenceStore:
    """The evidence store the settings name: the S3 bucket of ``NOTIFIER_EVIDENCE_URL``, checked
    at once (a ConfigurationError naming the bucket when it cannot be used), or else the folder
    ``NOTIFIER_EVIDENCE_DIR``."""
    if store.evidence_url is None:
        return FolderEvidence(store.evidence_dir)
    from notifier.evidence.s3 import S3Evidence

    return await S3Evidence.open(
        store.evidence_bucket, store.evidence_prefix, endpoint=store.evidence_s3_endpoint
    )
