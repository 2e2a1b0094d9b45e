"""Where the BGP effector gets a peer's password: logs hold only keyed hashes of
passwords (events/sources/secrets.py), so the values come from elsewhere."""

from __future__ import annotations

from pathlib import Path

from ..announce.bgp.speaker import PasswordMissing
from ..events.sources.secrets import LiveSecrets, is_hashed
from ..reconcile.plan.speaker import BGPSessionPlan


class PasswordSource:
    """A peer's password for the speaker's TCP MD5 signatures.

    An inline ``spec.password`` comes from the watched BGPPeer in a cluster
    (``live``), or standalone from ``password_dir``/<peer name>; a
    ``passwordSecret`` from the watched Secret. Not found: PasswordMissing, and the
    peer gets no session, never an unauthenticated one.
    """

    def __init__(self, namespace: str, live: LiveSecrets | None, password_dir: str | None) -> None:
        self.namespace = namespace
        self.live = live
        self.password_dir = password_dir

    def __call__(self, session: BGPSessionPlan) -> str | None:
        if session.password:
            if not is_hashed(session.password):
                return session.password  # a log written before passwords were hashed
            if self.live is not None:
                value = self.live.peer_password(f"{self.namespace}/{session.peer}")
                where = f"BGPPeer {self.namespace}/{session.peer} as watched"
            else:
                value, where = self._from_file(session.peer)
            if value is None:
                raise PasswordMissing(f"peer {session.peer}: no password in {where}")
            return value
        if not session.password_secret:
            return None
        key = f"{self.namespace}/{session.password_secret}"
        value = self.live.value(key, "password") if self.live is not None else None
        if value is None:
            raise PasswordMissing(f"peer {session.peer}: Secret {key} has no password yet")
        return value

    def _from_file(self, peer: str) -> tuple[str | None, str]:
        if self.password_dir is None:
            return None, "the log (it holds a hash; give --bgp-password-dir)"
        path = Path(self.password_dir) / peer
        try:
            return path.read_text().rstrip("\n"), str(path)
        except OSError as exc:
            return None, f"{path} ({exc.strerror})"
