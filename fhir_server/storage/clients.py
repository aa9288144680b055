"""SMART Backend Services clients and the assertion ids they already used."""

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class ClientStore:
    def __init__(self, db: AsyncDatabase):
        self.clients = db["clients"]
        self.assertions = db["client_assertions"]

    async def prepare(self) -> None:
        # A used assertion id is kept until its assertion expires; then MongoDB removes it.
        await self.assertions.create_index("expiresAt", expireAfterSeconds=0)

    async def register(self, client: dict) -> None:
        """Add or replace a client (`_id` = client_id)."""
        await self.clients.replace_one({"_id": client["_id"]}, client, upsert=True)

    async def client(self, client_id: str) -> dict | None:
        return await self.clients.find_one({"_id": client_id})

    async def use_assertion(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        """Record an assertion id; False when the client used it before (a replay)."""
        try:
            await self.assertions.insert_one(
                {"_id": {"client": client_id, "jti": jti}, "expiresAt": expires_at}
            )
        except DuplicateKeyError:
            return False
        return True
