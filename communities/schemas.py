from datetime import datetime

from ninja import Field, Schema
from pydantic import ConfigDict, StrictStr

NO_NUL = r"^[^\x00]*$"


class CommunityOut(Schema):
    slug: str
    name: str
    visibility: str
    created_at: datetime
    role: str | None
    caller: str
    scopes: list[str]
    allowed: list[str]


class _StrictIn(Schema):
    model_config = ConfigDict(strict=True, extra="forbid")


class ApiTokenIn(_StrictIn):
    name: StrictStr = Field(min_length=1, max_length=100, pattern=NO_NUL)
    scopes: list[StrictStr] = Field(min_length=1, max_length=4)


class ApiTokenOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedApiTokenOut(ApiTokenOut):
    token: str = Field(description="the secret: shown this once, never stored")


class OverlayKeyIn(_StrictIn):
    name: StrictStr = Field(min_length=1, max_length=100, pattern=NO_NUL)


class OverlayKeyOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedOverlayKeyOut(OverlayKeyOut):
    key: str = Field(description="the secret: shown this once, never stored")
    overlay_url: str = Field(description="the overlay's path with the key, for OBS")
