"""Bounce, complaint and auto-reply messages in the shapes real servers send, written for these
tests (RFC 3464 multipart/report, Microsoft 365/Exchange Online NDRs, Gmail, Postfix, an RFC 5965
feedback report, an out-of-office reply, and a non-standard qmail-style bounce)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

RESIDENT = "rosalind.testperson@example.org"
_DATE = format_datetime(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))


def _original_headers(return_path: str, subject: str = "We have your planning application") -> str:
    return (
        f"Return-Path: <{return_path}>\r\n"
        "From: Stratford-on-Avon District Council <notifications@stratford.gov.uk>\r\n"
        f"To: {RESIDENT}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {_DATE}\r\n"
        "Message-ID: <abc123@stratford.gov.uk>\r\n"
    )


def _report(
    to: str,
    *,
    sender: str,
    subject: str,
    human: str,
    per_message: str,
    per_recipient: str,
    returned: str,
    returned_type: str = "text/rfc822-headers",
    extra_headers: str = "",
    boundary: str = "=_report_7f3a",
) -> bytes:
    text = (
        f"From: {sender}\r\n"
        f"To: <{to}>\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {_DATE}\r\n"
        "MIME-Version: 1.0\r\n"
        f"{extra_headers}"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{human}\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        f"{per_message}\r\n"
        f"{per_recipient}\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: {returned_type}\r\n\r\n"
        f"{returned}\r\n"
        f"--{boundary}--\r\n"
    )
    return text.encode()


def rfc3464(to: str, status: str = "5.1.1", action: str = "failed") -> bytes:
    """A plain RFC 3464 DSN (§2) for one recipient."""
    return _report(
        to,
        sender="MAILER-DAEMON@mx.example.org",
        subject="Delivery Status Notification (Failure)",
        human="Your message could not be delivered.",
        per_message="Reporting-MTA: dns; mx.example.org\r\nArrival-Date: " + _DATE + "\r\n",
        per_recipient=(
            f"Final-Recipient: rfc822; {RESIDENT}\r\n"
            f"Action: {action}\r\n"
            f"Status: {status}\r\n"
            f"Diagnostic-Code: smtp; 550 {status} mailbox problem for {RESIDENT}\r\n"
        ),
        returned=_original_headers(to),
    )


def postfix(to: str, status: str = "5.1.1") -> bytes:
    """Postfix's bounce: Auto-Submitted, X-Postfix fields, the whole message returned."""
    return _report(
        to,
        sender="MAILER-DAEMON@relay.example.net (Mail Delivery System)",
        subject="Undelivered Mail Returned to Sender",
        human=(
            "This is the mail system at host relay.example.net.\r\n\r\n"
            "I'm sorry to have to inform you that your message could not\r\n"
            "be delivered to one or more recipients.\r\n\r\n"
            f"<{RESIDENT}>: host mx.example.org[192.0.2.25] said: 550 {status}\r\n"
            f"    <{RESIDENT}>: Recipient address rejected: User unknown"
        ),
        per_message=(
            "Reporting-MTA: dns; relay.example.net\r\n"
            "X-Postfix-Queue-ID: 4NxQ2k1Lz3z9rv\r\n"
            f"X-Postfix-Sender: rfc822; {to}\r\n"
            f"Arrival-Date: {_DATE}\r\n"
        ),
        per_recipient=(
            f"Final-Recipient: rfc822; {RESIDENT}\r\n"
            f"Original-Recipient: rfc822;{RESIDENT}\r\n"
            "Action: failed\r\n"
            f"Status: {status}\r\n"
            "Remote-MTA: dns; mx.example.org\r\n"
            f"Diagnostic-Code: smtp; 550 {status} <{RESIDENT}>: Recipient address rejected\r\n"
        ),
        returned=_original_headers(to)
        + "MIME-Version: 1.0\r\n\r\nYour reference is 24/01234/FUL.\r\n",
        returned_type="message/rfc822",
        extra_headers="Auto-Submitted: auto-replied\r\n",
    )


def exchange(to: str, status: str = "5.1.10") -> bytes:
    """Exchange Online's NDR: Microsoft's wording, X-MS-Exchange headers, a 550 5.1.10
    RecipientNotFound by default."""
    return _report(
        to,
        sender=(
            "Microsoft Outlook"
            " <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.onmicrosoft.com>"
        ),
        subject="Undeliverable: We have your planning application",
        human=(
            "Your message to " + RESIDENT + " couldn't be delivered.\r\n"
            "The email address wasn't found at the destination domain.\r\n\r\n"
            f"Remote Server returned '550 {status} RESOLVER.ADR.RecipientNotFound;"
            " Recipient not found by SMTP address lookup'"
        ),
        per_message=(
            "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com\r\n"
            "Received-From-MTA: dns;AM0PR01MB5678.eurprd01.prod.exchangelabs.com\r\n"
            f"Arrival-Date: {_DATE}\r\n"
        ),
        per_recipient=(
            f"Final-Recipient: rfc822;{RESIDENT}\r\n"
            "Action: failed\r\n"
            f"Status: {status}\r\n"
            f"Diagnostic-Code: smtp;550 {status} RESOLVER.ADR.RecipientNotFound;"
            " Recipient not found by SMTP address lookup\r\n"
        ),
        returned=_original_headers(to),
        extra_headers=(
            "X-MS-Exchange-Message-Is-Ndr: \r\n"
            "X-MS-Exchange-Organization-SCL: -1\r\n"
            "Auto-Submitted: auto-replied\r\n"
        ),
    )


def gmail(to: str, status: str = "5.2.2") -> bytes:
    """Gmail's bounce, mailbox full (OverQuotaPerm) by default."""
    return _report(
        to,
        sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        subject="Delivery Status Notification (Failure)",
        human=(
            f"Address not found or inbox full\r\n\r\nYour message wasn't delivered to {RESIDENT}"
            " because the recipient's inbox is full."
        ),
        per_message="Reporting-MTA: dns; googlemail.com\r\n" + f"Arrival-Date: {_DATE}\r\n",
        per_recipient=(
            f"Final-Recipient: rfc822; {RESIDENT}\r\n"
            "Action: failed\r\n"
            f"Status: {status}\r\n"
            "Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450:400c:c0b::1b)\r\n"
            f"Diagnostic-Code: smtp; 552-{status} The recipient's inbox is out of storage"
            " space.\r\n"
            f" 552 {status} https://support.google.com/mail/?p=OverQuotaPerm\r\n"
        ),
        returned=_original_headers(to),
        extra_headers="X-Failed-Recipients: " + RESIDENT + "\r\n",
    )


def delayed(to: str) -> bytes:
    """A 'still trying' DSN (Action: delayed)."""
    return rfc3464(to, status="4.4.7", action="delayed")


def out_of_office(to: str) -> bytes:
    """Outlook's automatic reply (RFC 3834 Auto-Submitted and Microsoft's own headers)."""
    message = EmailMessage()
    message["From"] = RESIDENT
    message["To"] = to
    message["Subject"] = "Automatic reply: We have your planning application"
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["Date"] = _DATE
    message.set_content("I am out of the office until Monday. User unknown? No: back soon.")
    return message.as_bytes()


def complaint(to_fbl: str, return_path: str) -> bytes:
    """An RFC 5965 feedback report (as a mailbox provider's feedback loop sends it) to the
    council's feedback address; the signed return path is in the returned headers."""
    boundary = "=_arf_91c2"
    return (
        "From: Feedback Loop <staff@hotmail.example>\r\n"
        f"To: <{to_fbl}>\r\n"
        "Subject: complaint about message from 192.0.2.10\r\n"
        f"Date: {_DATE}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report;\r\n"
        f'\tboundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=US-ASCII\r\n\r\n"
        "This is an email abuse report for an email message received from IP 192.0.2.10.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: SomeGenerator/1.0\r\n"
        "Version: 1\r\n"
        "Original-Mail-From: <" + return_path + ">\r\n"
        "Source-IP: 192.0.2.10\r\n"
        f"Arrival-Date: {_DATE}\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        + _original_headers(return_path)
        + f"\r\n--{boundary}--\r\n"
    ).encode()


def qmail(to: str) -> bytes:
    """A non-standard (qmail) bounce with no DSN part: left to flufl.bounce's detectors."""
    return (
        "From: MAILER-DAEMON@mail.example.org\r\n"
        f"To: {to}\r\n"
        "Subject: failure notice\r\n"
        f"Date: {_DATE}\r\n\r\n"
        "Hi. This is the qmail-send program at mail.example.org.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        f"<{RESIDENT}>:\r\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n" + _original_headers(to)
    ).encode()


def bounce_of_a_bounce(to: str) -> bytes:
    """A DSN whose returned message is itself a DSN (a loop)."""
    inner = rfc3464(to).decode()
    return _report(
        to,
        sender="MAILER-DAEMON@mx2.example.org",
        subject="Undelivered Mail Returned to Sender",
        human="Returned.",
        per_message="Reporting-MTA: dns; mx2.example.org\r\n",
        per_recipient="Final-Recipient: rfc822; x@y\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        returned=inner,
        returned_type="message/rfc822",
        boundary="=_outer_c0de",
    )
