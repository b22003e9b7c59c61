from datetime import datetime

from ninja import Schema


class CommunityOut(Schema):
    slug: str
    name: str
    visibility: str
    created_at: datetime
    role: str | None
    caller: str
    scopes: list[str]
    allowed: list[str]
