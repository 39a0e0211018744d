"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the email channel's tests.

It runs in the test's own event loop, so what it records is settled by the time a send returns.
Optional STARTTLS or implicit TLS with a certificate made for the test, optional AUTH (PLAIN,
LOGIN, XOAUTH2), every message recorded, connections counted, and scripted trouble: a chosen
reply for given recipients or for the next N transactions, a dropped connection, or a stall.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import ipaddress
import json
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Stage = Literal["AUTH", "MAIL", "RCPT", "DATA"]
HOST = "127.0.0.1"
_DROP = "<drop>"
_STALL = "<stall>"


@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    """One accepted message: envelope, bytes as received, who logged in, whether TLS was on."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None
    tls: bool


@dataclasses.dataclass(frozen=True, slots=True)
class TlsFiles:
    """A test CA and a server certificate for 127.0.0.1 signed by it, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls_files(directory: Path) -> TlsFiles:
    """Write a throwaway CA and a 127.0.0.1 server certificate into ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notifier test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class FakeSmtpServer:
    """An aiosmtpd server on 127.0.0.1 with a free port, scripted by the test."""

    def __init__(
        self,
        *,
        starttls: TlsFiles | None = None,
        implicit_tls: TlsFiles | None = None,
        users: Mapping[str, str] | None = None,
        oauth_tokens: Mapping[str, str] | None = None,
    ) -> None:
        self.host = HOST
        self.port = 0
        self.messages: list[Received] = []
        self.connections = 0
        self.quits = 0
        self.auth_attempts: list[str] = []
        self._starttls = starttls.server_context() if starttls else None
        self._implicit = implicit_tls.server_context() if implicit_tls else None
        self._users = dict(users or {})
        self._tokens = dict(oauth_tokens or {})
        self._refusals: dict[str, str] = {}
        self._script: dict[Stage, list[str]] = {"AUTH": [], "MAIL": [], "RCPT": [], "DATA": []}
        self._sessions: list[SMTP] = []
        self._server: asyncio.Server | None = None

    # -- scripting ---------------------------------------------------------------------------

    def refuse(self, addresses: Iterable[str], reply: str) -> None:
        """Answer ``reply`` (e.g. ``"550 5.1.1 No such user"``) to RCPT for these addresses."""
        for address in addresses:
            self._refusals[address.lower()] = reply

    def fail_next(self, stage: Stage, reply: str, count: int = 1) -> None:
        """Answer ``reply`` at ``stage`` the next ``count`` times it is reached."""
        self._script[stage].extend([reply] * count)

    def drop_next(self, count: int = 1, stage: Stage = "MAIL") -> None:
        """Close the connection, unanswered, the next ``count`` times ``stage`` is reached (at
        DATA: after the whole message has arrived, so the sender cannot know it did)."""
        self._script[stage].extend([_DROP] * count)

    def stall_next(self, stage: Stage, count: int = 1) -> None:
        """Never answer at ``stage`` (until the client gives up and closes the connection)."""
        self._script[stage].extend([_STALL] * count)

    def drop_all(self) -> None:
        """Close every open connection now, as a relay does to idle sessions."""
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> FakeSmtpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, self.host, 0, ssl=self._implicit)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeSmtpServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _new_session(self) -> SMTP:
        self.connections += 1
        offered = {
            "PLAIN": bool(self._users),
            "LOGIN": bool(self._users),
            "XOAUTH2": bool(self._tokens),
        }
        session = SMTP(
            _Handler(self),
            hostname="relay.test",
            tls_context=self._starttls,
            # With implicit TLS the whole session is encrypted, which aiosmtpd cannot see.
            auth_require_tls=self._implicit is None,
            auth_exclude_mechanism=[name for name, on in offered.items() if not on],
            authenticator=self._authenticate,
            loop=asyncio.get_running_loop(),
        )
        self._sessions = [s for s in self._sessions if s.transport is not None]
        self._sessions.append(session)
        return session

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.auth_attempts.append(mechanism)
        ok = self._users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=data)

    async def _scripted(self, server: SMTP, stage: Stage) -> str | None:
        """The scripted reply for ``stage``, if any; drops and stalls happen here."""
        if not self._script[stage]:
            return None
        action = self._script[stage].pop(0)
        if action == _DROP:
            assert server.transport is not None
            server.transport.close()
            return "421 4.4.2 dropped"  # never reaches the client: the socket is closed
        if action == _STALL:
            await asyncio.get_running_loop().create_future()  # cancelled when the client leaves
        return action


class _Handler:
    """aiosmtpd hooks; each returns the reply to send."""

    def __init__(self, fake: FakeSmtpServer) -> None:
        self.fake = fake

    async def handle_AUTH(
        self, server: SMTP, session: Session, envelope: Envelope, args: list[str]
    ) -> Any:
        return await self.fake._scripted(server, "AUTH") or MISSING

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await self.fake._scripted(server, "MAIL")
        if reply:
            return reply
        if (self.fake._users or self.fake._tokens) and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.fake._refusals.get(address.lower()) or await self.fake._scripted(
            server, "RCPT"
        )
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await self.fake._scripted(server, "DATA")
        if reply:
            return reply
        content = envelope.original_content or b""
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.fake.messages.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=content,
                login=login,
                tls=session.ssl is not None or self.fake._implicit is not None,
            )
        )
        return "250 2.0.0 OK queued"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.fake.quits += 1
        return "221 2.0.0 Bye"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """Google's XOAUTH2: base64 ``user=U\\x01auth=Bearer T\\x01\\x01`` as the initial
        response; a bad token gets a base64 JSON challenge, the client's empty line, then 535."""
        self.fake.auth_attempts.append("XOAUTH2")
        try:
            fields = base64.b64decode(args[1], validate=True).decode().split("\x01")
            user = fields[0].removeprefix("user=")
            token = fields[1].removeprefix("auth=Bearer ")
        except (IndexError, ValueError):
            await server.push("501 5.5.2 Cannot decode XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        if self.fake._tokens.get(user) == token:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        error = json.dumps({"status": "401", "schemes": "Bearer", "scope": "SMTP.Send"})
        await server.challenge_auth(error)
        return AuthResult(success=False, handled=False)
