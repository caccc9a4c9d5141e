"""The PBX's first-run demo data, created by ``manage.py parley`` on an empty database."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from core import demo as core_demo
from meetings.models import RoomType
from rooms.models import Extension, Queue
from rooms.services import save_extension, save_queue


@core_demo.provider
def create_demo_data(base_url: str) -> list[str]:
    """An administrator, extension 1001 Ada Lovelace (Click2Meet /ada/, private
    room) and queue 2000 Support (/support/)
    with Ada as its agent. The passwords are random and returned only here."""
    User = get_user_model()
    if User.objects.filter(username__in=["admin", "ada"]).exists() or Extension.objects.filter(slug="ada").exists():
        return []
    admin_password, agent_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    with transaction.atomic():
        User.objects.create_superuser("admin", "admin@example.com", admin_password)
        ada = User.objects.create_user("ada", "ada@example.com", agent_password, first_name="Ada", last_name="Lovelace")
        extension = save_extension(
            Extension(user=ada, number="1001", display_name="Ada Lovelace", email="ada@example.com", slug="ada", room_type=RoomType.PRIVATE)
        )
        queue = save_queue(Queue(number="2000", name="Support", slug="support"))
        queue.agents.add(extension)
    return [
        f"administrator   user admin  password {admin_password}  {base_url}/admin/",
        f"extension 1001 Ada Lovelace   user ada  password {agent_password}  {base_url}/client/",
        f"Click2Meet: {base_url}/ada/   queue Support: {base_url}/support/",
    ]
