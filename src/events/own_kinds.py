"""Kinds of the records ironlb's processes write about themselves, beside what
they observe: one definition for the writer and for the tools that read them."""

IDENTITY_KIND = "ironlb.io/v1/ProcessIdentity"  # who a process is (namespace, class, node)
CURSOR_KIND = "ironlb.io/v1/FollowCursor"  # how far a standalone speaker copied a log
CONFLICT_KIND = "ironlb.io/v1/AddressConflict"  # another host claimed an announced address
SESSION_KIND = "ironlb.io/v1/BGPSessionState"  # a BGP session changed state
