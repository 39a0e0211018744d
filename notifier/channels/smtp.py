"""The email channel: aiosmtplib over a small pool of reused connections (RFC 5321, 3207, 4954).

Only this module imports aiosmtplib. A message goes out as MAIL, RCPT and DATA on a pooled
connection, so every failure is known by the stage it happened at; ``failure_for`` maps it to
the project's failures through the one table ``REPLIES``. Server replies and aiosmtplib's
exceptions quote the recipient's address, so neither is passed on: failures carry the reply
code, the enhanced status code and the stage, nothing else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shlex
import ssl
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import structlog
from aiosmtplib import (
    SMTP,
    SMTPConnectError,
    SMTPException,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
)

from notifier.channels.mime import DkimSigner, build_email, envelope_sender, recipient
from notifier.errors import (
    ConfigurationError,
    DeliveryFailure,
    PermanentFailure,
    TechnicalFailure,
    TemporaryFailure,
)
from notifier.messages import EmailMessage, Message, expect
from notifier.model import Receipt, Status

if TYPE_CHECKING:
    from notifier.settings import EmailSettings

TlsMode = Literal["starttls", "implicit", "none"]
Stage = Literal["connect", "starttls", "auth", "mail", "rcpt", "data"]
TokenProvider = Callable[[], Awaitable[str]]
# The MAIL FROM for one message (a signed per-notification return path), or None for the default.
ReturnPath = Callable[[EmailMessage], str | None]

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class _Outcome:
    kind: type[PermanentFailure] | type[TemporaryFailure] | type[TechnicalFailure]
    retryable: bool = False


PERMANENT = _Outcome(PermanentFailure)  # the address is bad: fall back, suppress it
TEMPORARY = _Outcome(TemporaryFailure)  # the mailbox may recover: retry, then fall back
RETRY = _Outcome(TechnicalFailure, retryable=True)  # the relay's side or the network's
STOP = _Outcome(TechnicalFailure)  # configuration, policy or content: alert, do not retry


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """A row of REPLIES: stages it applies to (empty: any), reply code pattern (``421``,
    ``4xx``), enhanced status prefixes (empty: any), and the outcome."""

    stages: frozenset[Stage]
    code: str
    enhanced: tuple[str, ...]
    outcome: _Outcome


_ANY: frozenset[Stage] = frozenset()
_AUTH: frozenset[Stage] = frozenset({"auth"})
_RCPT: frozenset[Stage] = frozenset({"rcpt"})
_RCPT_DATA: frozenset[Stage] = frozenset({"rcpt", "data"})

# The one table (RFC 5321 §4.2, RFC 3463), first match wins. A PermanentFailure suppresses the
# resident's address, so only replies that clearly blame the address give one; a policy or
# content refusal is a problem in our templates or DNS and must reach an operator instead. The
# enhanced status code, where there is one, decides over the basic reply code.
REPLIES: tuple[Reply, ...] = (
    Reply(_ANY, "421", (), RETRY),  # service closing: the connection is gone, try later
    Reply(_AUTH, "5xx", (), STOP),  # 535 5.7.8 bad credentials, 5.7.30 basic auth disabled
    Reply(_AUTH, "4xx", (), RETRY),  # 454 4.7.0 temporary authentication failure
    Reply(_ANY, "5xx", ("5.2.3",), STOP),  # message too big for the relay: our template
    Reply(_ANY, "5xx", ("5.6.", "5.7."), STOP),  # content, relay denied 5.7.1, DMARC 5.7.26
    # Mailbox full is "a persistent transient failure" (RFC 3463 §3.3, X.2.2): the resident
    # can make room, so it is retried, whatever the class digit says.
    Reply(_RCPT_DATA, "5xx", ("5.2.2",), TEMPORARY),
    Reply(_RCPT_DATA, "5xx", ("5.1.", "5.2."), PERMANENT),  # no such user, mailbox disabled
    # 552 to RCPT is "exceeded storage allocation" or RFC 821's "too many recipients", which
    # RFC 5321 §4.5.3.1.10 says to treat as temporary; neither blames the address.
    Reply(_RCPT, "552", (), TEMPORARY),
    Reply(_RCPT, "5xx", (), PERMANENT),  # 550/551/553 without an enhanced code
    Reply(_ANY, "4xx", ("4.3.", "4.4.", "4.7."), RETRY),  # relay, routing, greylisting
    Reply(_RCPT_DATA, "4xx", (), TEMPORARY),  # 450/451/452, 4.2.x mailbox busy or full
    Reply(_ANY, "4xx", (), RETRY),  # MAIL, HELO, STARTTLS: the relay is not ready
    Reply(_ANY, "5xx", (), STOP),  # MAIL or DATA policy, HELO, STARTTLS
)
_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


def failure_for(exc: BaseException, stage: Stage) -> DeliveryFailure:  # noqa: C901
    """The DeliveryFailure for anything aiosmtplib or the network raised at ``stage``.

    One row per exception type, read top to bottom: the order is the precedence (a table in
    code, each row tested in tests/channels/test_smtp.py)."""
    if isinstance(exc, DeliveryFailure):
        return exc
    if isinstance(exc, SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]  # one recipient per envelope
    if isinstance(exc, SMTPResponseException) and 400 <= exc.code < 600:
        match = _ENHANCED.match(exc.message or "")
        enhanced = match.group(1) if match else ""
        outcome = _reply_outcome(stage, exc.code, enhanced)
        return _failure(outcome, f"smtp-{exc.code}", f"{stage} {enhanced}".strip())
    if isinstance(exc, TimeoutError):
        # After DATA the relay may have taken the message: a retry can send it twice.
        return _failure(RETRY, "smtp-timeout", stage, unknown=stage == "data")
    if isinstance(exc, SMTPServerDisconnected):
        return _failure(RETRY, "smtp-disconnected", stage, unknown=stage == "data")
    cause = exc.__cause__ if isinstance(exc, SMTPConnectError) else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _failure(STOP, "smtp-tls-certificate", stage)
    if isinstance(cause, ssl.SSLError):
        return _failure(STOP, "smtp-tls", stage)
    if isinstance(exc, SMTPResponseException):  # not 4xx or 5xx: a garbled reply
        return _failure(RETRY, "smtp-bad-reply", stage)
    if isinstance(exc, OSError):
        return _failure(RETRY, "smtp-connect", stage)
    if isinstance(exc, ValueError):  # aiosmtplib refuses control characters in an address
        if stage == "rcpt":
            return PermanentFailure("invalid-email")
        return _failure(STOP, "smtp-bad-sender", stage)
    if isinstance(exc, SMTPException):  # a capability we need is missing
        return _failure(STOP, "smtp-unsupported", stage)
    return _failure(RETRY, "smtp-error", f"{stage} {type(exc).__name__}", unknown=stage == "data")


def _reply_outcome(stage: Stage, code: int, enhanced: str) -> _Outcome:
    for row in REPLIES:
        if row.stages and stage not in row.stages:
            continue
        if row.code != str(code) and row.code != f"{str(code)[0]}xx":
            continue
        if row.enhanced and not enhanced.startswith(row.enhanced):
            continue
        return row.outcome
    raise AssertionError("REPLIES ends with catch-alls for 4xx and 5xx")


def _failure(
    outcome: _Outcome, code: str, detail: str, *, unknown: bool = False
) -> DeliveryFailure:
    """``unknown``: the relay may have the message (no reply to the end of DATA)."""
    if outcome.kind is TechnicalFailure:
        return TechnicalFailure(code, detail, retryable=outcome.retryable, outcome_unknown=unknown)
    return outcome.kind(code, detail)


def static_token(token: str) -> TokenProvider:
    """A provider that always gives ``token`` (one refreshed outside the service)."""

    async def provide() -> str:
        return token

    return provide


def command_token(argv: Sequence[str], *, timeout: float = 30.0) -> TokenProvider:
    """A provider that runs ``argv`` for each new connection and reads a fresh token from its
    standard output (for example a script around MSAL's client-credentials flow)."""

    async def provide() -> str:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            async with asyncio.timeout(timeout):
                out, _ = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TechnicalFailure("smtp-oauth-token", "command timed out") from None
        token = out.decode("ascii", "replace").strip()
        if process.returncode != 0 or not token:
            raise TechnicalFailure("smtp-oauth-token", f"command exit {process.returncode}")
        return token

    return provide


def token_provider_for(email: EmailSettings) -> TokenProvider | None:
    """The XOAUTH2 token provider the email part describes (also used for the bounce
    mailbox's IMAP login), or None for password or no authentication."""
    if email.oauth_token_command:
        return command_token(shlex.split(email.oauth_token_command))
    if email.oauth_token is not None:
        return static_token(email.oauth_token.get_secret_value())
    return None


@dataclasses.dataclass(slots=True)
class _Attempt:
    sender: str
    recipient: str
    stage: Stage = "connect"


class SmtpChannel:
    """Sends EmailMessages through an SMTP relay; a ``sent`` Receipt holding the Message-ID,
    or a DeliveryFailure from REPLIES."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: TlsMode = "starttls",
        username: str | None = None,
        password: str | None = None,
        token_provider: TokenProvider | None = None,
        timeout: float = 30.0,
        pool_size: int = 4,
        tls_context: ssl.SSLContext | None = None,
        ca_file: Path | str | None = None,
        dkim: DkimSigner | None = None,
        bounce_address: str | None = None,
        return_path: ReturnPath | None = None,
        local_hostname: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        _check_config(tls, username, password, token_provider, timeout, pool_size)
        self._host = host
        self._port = port
        self._tls: TlsMode = tls
        self._username = username
        self._password = password
        self._token_provider = token_provider
        self._timeout = timeout
        self._tls_context = None if tls == "none" else tls_context or _client_context(ca_file)
        self._dkim = dkim
        self._bounce_address = bounce_address
        self._return_path = return_path
        self._local_hostname = local_hostname
        self._clock = clock or (lambda: datetime.now(UTC))
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[SMTP] = []
        self._closed = False
        self.connections_opened = 0

    @classmethod
    def from_settings(
        cls, email: EmailSettings, *, return_path: ReturnPath | None = None
    ) -> SmtpChannel:
        """The channel the ``NOTIFIER_SMTP_*`` settings (the email part) describe."""
        token_provider = token_provider_for(email)
        dkim = None
        if email.dkim_key_file and email.dkim_selector:  # both or neither: checked at start-up
            dkim = DkimSigner.from_file(email.dkim_key_file, email.dkim_selector)
        password = email.password
        return cls(
            host=email.host,
            port=email.port,
            tls=email.tls,
            username=email.username,
            password=password.get_secret_value() if password is not None else None,
            token_provider=token_provider,
            timeout=email.timeout,
            pool_size=email.pool_size,
            ca_file=email.ca_file,
            dkim=dkim,
            bounce_address=email.bounce_address,
            return_path=return_path,
            local_hostname=email.local_hostname,
        )

    async def send(self, message: Message) -> Receipt:
        """Hand one message to the relay; ``sent`` once it answers 250 to the data."""
        message = expect(message, EmailMessage)
        if self._closed:
            raise TechnicalFailure("smtp-channel-closed")
        wire = build_email(message, now=self._clock(), dkim=self._dkim)
        signed = self._return_path(message) if self._return_path is not None else None
        sender = signed or envelope_sender(message, self._bounce_address)
        attempt = _Attempt(sender, recipient(message))
        failure: DeliveryFailure | None = None
        async with self._slots:  # waiting for a pooled connection is not part of the timeout
            try:
                async with asyncio.timeout(self._timeout):
                    await self._deliver(attempt, wire.data)
            except Exception as exc:  # mapped here, raised below: no vendor exception as context
                failure = failure_for(exc, attempt.stage)
        if failure is not None:
            raise failure
        return Receipt(status=Status.SENT, provider_ref=wire.message_id, content=wire.data)

    async def _deliver(self, attempt: _Attempt, data: bytes) -> None:
        conn = await self._checkout(attempt)
        reusable = False
        try:
            try:
                await self._transact(conn, attempt, data)
            except SMTPServerDisconnected:
                if attempt.stage == "data":
                    raise  # the relay may already have the message: leave it to the retry
                log.info("smtp.reconnect", stage=attempt.stage)
                conn.close()
                conn = await self._open(attempt)
                await self._transact(conn, attempt, data)
            reusable = True
        except (SMTPResponseException, SMTPRecipientsRefused):
            reusable = await _reset(conn)
            raise
        finally:
            if reusable and conn.is_connected and not self._closed:
                self._idle.append(conn)
            else:
                conn.close()

    async def _transact(self, conn: SMTP, attempt: _Attempt, data: bytes) -> None:
        attempt.stage = "mail"
        options = [f"SIZE={len(data)}"] if conn.supports_extension("size") else []
        await conn.mail(attempt.sender, options=options)
        attempt.stage = "rcpt"
        await conn.rcpt(attempt.recipient)
        attempt.stage = "data"
        await conn.data(data)

    async def _checkout(self, attempt: _Attempt) -> SMTP:
        if self._closed:  # closed while this send waited for a connection
            raise TechnicalFailure("smtp-channel-closed")
        while self._idle:
            conn = self._idle.pop()
            if conn.is_connected:
                return conn
            conn.close()  # the relay closed it while it was idle
        return await self._open(attempt)

    async def _open(self, attempt: _Attempt) -> SMTP:
        attempt.stage = "connect"
        conn = SMTP(
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            use_tls=self._tls == "implicit",
            start_tls=False,  # done below, so that a missing STARTTLS fails closed
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        try:
            await conn.connect()
            self.connections_opened += 1
            number = self.connections_opened
            if self._tls == "starttls":
                attempt.stage = "starttls"
                await conn.ehlo()
                if not conn.supports_extension("starttls"):
                    raise TechnicalFailure("smtp-starttls-unavailable", "starttls", retryable=False)
                await conn.starttls()
            if self._username is not None:
                attempt.stage = "auth"
                await self._authenticate(conn, self._username)
        except BaseException:
            conn.close()
            raise
        log.info("smtp.connection.opened", tls=self._tls, number=number)
        return conn

    async def _authenticate(self, conn: SMTP, username: str) -> None:
        if conn.is_ehlo_or_helo_needed:
            await conn.ehlo()  # STARTTLS discards what the server said before it
        if self._token_provider is None:
            await conn.login(username, self._password or "")
            return
        if "xoauth2" not in conn.server_auth_methods:
            raise TechnicalFailure("smtp-xoauth2-unavailable", "auth", retryable=False)
        try:
            # Called per connection, just before AUTH: the provider returns a fresh token.
            token = await self._token_provider()
        except DeliveryFailure:
            raise
        except Exception as exc:
            raise TechnicalFailure("smtp-oauth-token", type(exc).__name__) from None
        await conn.auth_xoauth2(username, token)

    async def aclose(self) -> None:
        """QUIT every pooled connection; connections still sending close when they finish."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(conn, self._timeout) for conn in idle))
        log.info("smtp.pool.closed", quit=len(idle))


async def _reset(conn: SMTP) -> bool:
    """RSET after a refused transaction; whether the connection can be used again."""
    if not conn.is_connected:
        return False
    try:
        await conn.rset()
    except (SMTPException, OSError):
        conn.close()
        return False
    return True


async def _quit(conn: SMTP, seconds: float) -> None:
    try:
        await conn.quit(timeout=seconds)
    except (SMTPException, OSError):
        pass
    finally:
        conn.close()


def _client_context(ca_file: Path | str | None) -> ssl.SSLContext:
    """Certificate and host name checked, TLS 1.2 at least (NCSC); ``ca_file`` for a private CA."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError):
        raise ConfigurationError("NOTIFIER_SMTP_CA_FILE: cannot be read as PEM") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _check_config(
    tls: str,
    username: str | None,
    password: str | None,
    token_provider: TokenProvider | None,
    timeout: float,
    pool_size: int,
) -> None:
    if tls not in get_args(TlsMode):
        raise ConfigurationError("NOTIFIER_SMTP_TLS: must be starttls, implicit or none")
    if password is not None and token_provider is not None:
        raise ConfigurationError(
            "NOTIFIER_SMTP_PASSWORD and NOTIFIER_SMTP_OAUTH_TOKEN(_COMMAND) exclude each other"
        )
    if (password is not None or token_provider is not None) and not username:
        raise ConfigurationError("NOTIFIER_SMTP_USERNAME: needed to authenticate")
    if username and tls == "none":
        raise ConfigurationError("NOTIFIER_SMTP_TLS: credentials are never sent without TLS")
    if timeout <= 0:
        raise ConfigurationError("NOTIFIER_SMTP_TIMEOUT: must be positive")
    if pool_size < 1:
        raise ConfigurationError("NOTIFIER_SMTP_POOL_SIZE: must be at least 1")
