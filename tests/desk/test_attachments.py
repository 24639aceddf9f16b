"""Attachments over the desk's API: type from the content, 10 MB, EXIF stripped, stored, thumbnails,
each conversation's files only with its key, a clerk sending one. No mocks: real files made with Pillow."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image

from tests.desk.helpers import Clerk, new_id


def photo_with_gps() -> bytes:
    image = Image.new("RGB", (800, 600), (200, 30, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 1  # Orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (45.0, 28.0, 1.0), "E", (9.0, 11.0, 2.0)  # Milan
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 120, 200, 255)).save(out, format="PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


async def upload(url: str, conversation: str, content: bytes, name: str, **headers: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        target = f"{url}/api/conversations/{conversation}/attachments"
        sent = {"Content-Type": "application/octet-stream", "X-File-Name": name, **headers}
        async with http.post(target, data=content, headers=sent) as reply:
            return reply.status, await reply.json()


async def fetch(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as reply:
            return reply.status, await reply.read(), reply.headers.get("Content-Type", "")


async def test_a_citizens_photo_loses_its_gps_and_the_clerk_sees_a_thumbnail(desk_without_rasa):
    server = desk_without_rasa
    conversation = new_id()
    raw = photo_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825), "the test photo carries a GPS position"
    status, sent = await upload(server.url, conversation, raw, "IMG_0001.jpeg")
    assert status == 200, sent
    file = sent["line"]["data"]["attachment"]
    assert file["mime"] == "image/jpeg" and file["name"] == "IMG_0001.jpg" and file["thumb"]

    base = f"{server.url}/api/conversations/{conversation}/attachments/{file['id']}"
    status, stored, mime = await fetch(base)
    assert status == 200 and mime == "image/jpeg"
    kept = Image.open(io.BytesIO(stored))
    assert kept.size == (800, 600)
    assert not kept.getexif(), "no EXIF, so no GPS position, in what is stored"
    assert b"PhoneMaker" not in stored
    status, thumb, mime = await fetch(base + "?thumb=1")
    assert status == 200 and max(Image.open(io.BytesIO(thumb)).size) <= 240

    # The conversation's id is the key: another conversation's id does not open it.
    status, _, _ = await fetch(f"{server.url}/api/conversations/{new_id()}/attachments/{file['id']}")
    assert status == 404

    # The clerk sees it in the transcript, opens it, takes over and sends a file back.
    clerk = await Clerk.login(server, "附件员")
    try:
        status, view = await clerk.view(conversation)
        assert view["messages"][-1]["data"]["attachment"]["id"] == file["id"]
        async with clerk.http.get(f"{server.url}/api/console/attachments/{file['id']}?thumb=1") as reply:
            assert reply.status == 200 and reply.headers["Content-Type"] == "image/jpeg"
        headers = {
            "X-CSRF-Token": clerk.csrf,
            "X-File-Name": "%E6%8C%87%E5%8D%97.pdf",
            "Content-Type": "application/octet-stream",
        }
        target = f"{server.url}/api/console/conversations/{clerk.number(conversation)}/attachments"
        async with clerk.http.post(target, data=PDF, headers=headers) as reply:
            assert reply.status == 409 or reply.status == 403, "only the clerk serving the conversation sends files"
        status, _ = await clerk.act(conversation, "claim")
        assert status == 200
        async with clerk.http.post(target, data=PDF, headers=headers) as reply:
            assert reply.status == 200, await reply.text()
            line = (await reply.json())["line"]
        assert line["sender"] == "clerk" and line["data"]["attachment"]["name"] == "指南.pdf"
        status, _, mime = await fetch(
            f"{server.url}/api/conversations/{conversation}/attachments/{line['data']['attachment']['id']}"
        )
        assert status == 200 and mime == "application/pdf"
    finally:
        await clerk.close()


async def test_the_type_comes_from_the_content_and_bad_files_get_a_clear_message(desk_without_rasa):
    server = desk_without_rasa
    conversation = new_id()
    status, sent = await upload(server.url, conversation, png(), "scan.jpg")
    assert status == 200 and sent["line"]["data"]["attachment"]["mime"] == "image/png"
    assert sent["line"]["data"]["attachment"]["name"] == "scan.png"
    status, sent = await upload(server.url, conversation, PDF, "passport.png")
    assert status == 200 and sent["line"]["data"]["attachment"]["mime"] == "application/pdf"

    status, refused = await upload(server.url, conversation, b"MZ\x90\x00 not a picture", "photo.jpg")
    assert status == 415 and "jpg" in refused["error"] and "PDF" in refused["error"]
    status, refused = await upload(server.url, conversation, b"\xff\xd8\xff\xe0" + b"\x00" * 100, "broken.jpg")
    assert status == 415 and "损坏" in refused["error"]
    status, refused = await upload(server.url, conversation, b"%PDF-" + b"x" * (10 * 1024 * 1024), "big.pdf")
    assert status == 413 and "10 MB" in refused["error"]
    status, refused = await upload(server.url, conversation, b"", "empty.pdf")
    assert status == 415 and "空" in refused["error"]
    # In the citizen's language.
    status, refused = await upload(server.url, conversation, b"GIF89a", "x.gif", **{"X-Language": "it"})
    assert status == 415 and "Si possono inviare solo" in refused["error"]
