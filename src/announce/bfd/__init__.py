"""Bidirectional Forwarding Detection (RFC 5880; single hop RFC 5881, multihop RFC
5883): a sans-IO session core (``core``), its wire format (``packets``) and the
asyncio UDP driver the BGP speaker runs its sessions on (``driver``)."""
