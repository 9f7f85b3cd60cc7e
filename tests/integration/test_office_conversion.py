"""Office documents to PDF with the real LibreOffice: slides, Word files and spreadsheets arrive as pages
with their colours and text; cancel and timeout leave no process behind; files that are not what their
name says are refused before LibreOffice sees them; the profile forbids macros."""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from desktop.media.office import (
    OFFICE_KINDS,
    SOFFICE_ENV,
    ConversionCancelled,
    OfficeError,
    check_document,
    convert_to_pdf,
    find_soffice,
    install_hint,
    office_availability,
    secure_profile,
)
from desktop.media.pdf import PdfDocument
from tests.support import desktop_env
from tests.support.documents import SlideSpec, make_docx, make_pdf, make_pptx, make_xlsx, random_bytes

RED, BLUE = (220, 40, 40), (40, 80, 220)
SECURITY = "/org.openoffice.Office.Common/Security/Scripting"


@pytest.fixture(scope="module")
def soffice() -> str:
    """LibreOffice's program, or a skip (a failure under GLMV_TEST_STRICT) saying it is missing."""
    found = find_soffice()
    if found is None:
        message = f"LibreOffice (soffice) is not installed: {office_availability().how_to_fix}"
        if desktop_env.STRICT:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def warm_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One LibreOffice profile for the module's conversions (made by the first one)."""
    return tmp_path_factory.mktemp("office") / "profile"


def soffice_processes() -> list[psutil.Process]:
    """LibreOffice processes started by this test process that are still running (zombies are gone)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE and "soffice" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def group_members(pgid: int) -> list[int]:
    """Processes of process group `pgid` that still run."""
    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def pdf_text(data: bytes) -> str:
    with PdfDocument.open(data, "converted.pdf") as document:
        return "\n".join(document.text(i) for i in range(document.page_count))


# -- conversions -------------------------------------------------------------------------------------------------
def test_slides_become_pages_with_their_colours(soffice: str, warm_profile: Path) -> None:
    # GIVEN a red slide and a blue one
    deck = make_pptx([SlideSpec("Revenue by region", RED), SlideSpec("Next steps", BLUE)])
    # WHEN converted
    pdf = convert_to_pdf(deck, "plan.pptx", profile_dir=warm_profile, soffice=soffice)
    # THEN two 16:9 pages, each its slide's colour away from the title, with the title in the text layer
    with PdfDocument.open(pdf, "plan.pdf") as document:
        assert document.page_count == 2
        width, height = document.page_size(0)
        assert abs(width / height - 16 / 9) < 0.01
        for index, (colour, title) in enumerate([(RED, "Revenue by region"), (BLUE, "Next steps")]):
            page = document.render(index, 320, 180)
            for x, y in [(300, 170), (20, 170), (160, 120)]:
                assert all(abs(a - b) <= 2 for a, b in zip(page.getpixel((x, y)), colour, strict=True)), (index, x, y)
            assert document.text(index) == title


def test_a_word_document_arrives_with_its_text(soffice: str, warm_profile: Path) -> None:
    paragraphs = ["The contract starts on 1 March.", "Payment is due within 30 days of the invoice."]
    pdf = convert_to_pdf(make_docx(paragraphs, heading="Service agreement"), "agreement.docx",
                         profile_dir=warm_profile, soffice=soffice)
    text = pdf_text(pdf)
    assert "Service agreement" in text
    for paragraph in paragraphs:
        assert paragraph in text


def test_a_spreadsheet_arrives_with_its_cells(soffice: str, warm_profile: Path) -> None:
    rows: list[list[str | float]] = [["Region", "Q1", "Q2"], ["North", 120.5, 130.25], ["South", 98, 101]]
    pdf = convert_to_pdf(make_xlsx(rows), "figures.xlsx", profile_dir=warm_profile, soffice=soffice)
    lines = pdf_text(pdf).splitlines()
    assert "Region Q1 Q2" in lines
    assert "North 120.5 130.25" in lines
    assert "South 98 101" in lines


def test_progress_is_reported_in_words(soffice: str, warm_profile: Path) -> None:
    said: list[str] = []
    convert_to_pdf(make_docx(["Short."]), "note.docx", profile_dir=warm_profile, soffice=soffice,
                   on_progress=said.append)
    assert said == ["Starting LibreOffice…", "Converting 'note.docx'…"]


def test_an_odd_file_name_is_converted_under_a_safe_one(soffice: str, warm_profile: Path) -> None:
    pdf = convert_to_pdf(make_docx(["Odd name."]), "--help ../ notes (final) 2.docx", profile_dir=warm_profile,
                         soffice=soffice)
    assert "Odd name." in pdf_text(pdf)


def test_no_temporary_files_are_left(soffice: str, warm_profile: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    temporary = tmp_path / "temporary"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    convert_to_pdf(make_docx(["Tidy."]), "tidy.docx", profile_dir=warm_profile, soffice=soffice)
    with pytest.raises(OfficeError):
        convert_to_pdf(make_docx(["Tidy."]), "tidy.docx", profile_dir=warm_profile, soffice=soffice, timeout=0.2)
    assert list(temporary.iterdir()) == []


def test_conversions_into_one_profile_take_turns(soffice: str, warm_profile: Path) -> None:
    # GIVEN two conversions started at once into the same profile (LibreOffice refuses a profile in use)
    said: list[list[str]] = [[], []]

    def convert(index: int) -> str:
        pdf = convert_to_pdf(make_docx([f"Document number {index}."]), f"doc{index}.docx", profile_dir=warm_profile,
                             soffice=soffice, on_progress=said[index].append)
        return pdf_text(pdf)

    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(convert, range(2)))
    # THEN both succeed, one after the other, and the one that waited said so
    assert texts == ["Document number 0.", "Document number 1."]
    assert sum("Waiting for another document to finish converting…" in messages for messages in said) == 1


# -- stopping --------------------------------------------------------------------------------------------------
def test_cancel_kills_libreoffice_mid_conversion(soffice: str, warm_profile: Path) -> None:
    # GIVEN a long document being converted in a worker thread
    document = make_docx([f"Paragraph {i}: " + "the quarterly figures rose in every region " * 6
                          for i in range(6000)])
    cancel = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(convert_to_pdf, document, "long.docx", profile_dir=warm_profile, soffice=soffice,
                              cancel=cancel)
        deadline = time.monotonic() + 30
        running: list[psutil.Process] = []
        while not running and not outcome.done() and time.monotonic() < deadline:
            running = [p for p in soffice_processes() if "soffice.bin" in " ".join(p.cmdline())]
            time.sleep(0.05)
        assert running, "LibreOffice never started"
        pgid = os.getpgid(running[0].pid)
        time.sleep(0.5)  # well inside the conversion, which takes seconds
        # WHEN cancelled
        cancel.set()
        cancelled_at = time.monotonic()
        # THEN ConversionCancelled comes at once, and nothing of LibreOffice's group still runs
        with pytest.raises(ConversionCancelled) as caught:
            outcome.result(timeout=30)
    assert time.monotonic() - cancelled_at < 5
    assert caught.value.message == "Converting 'long.docx' was cancelled."
    assert group_members(pgid) == []
    assert soffice_processes() == []


def test_cancel_before_start_starts_nothing(soffice: str, warm_profile: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    said: list[str] = []
    with pytest.raises(ConversionCancelled):
        convert_to_pdf(make_docx(["Never."]), "never.docx", profile_dir=warm_profile, soffice=soffice, cancel=cancel,
                       on_progress=said.append)
    assert said == []
    assert soffice_processes() == []


def test_a_timeout_stops_libreoffice(soffice: str, warm_profile: Path) -> None:
    with pytest.raises(OfficeError) as caught:
        convert_to_pdf(make_pptx([SlideSpec("Slow", RED)]), "slow.pptx", profile_dir=warm_profile, soffice=soffice,
                       timeout=0.3)
    assert not isinstance(caught.value, ConversionCancelled)
    assert caught.value.message == "Converting 'slow.pptx' took longer than 0.3 seconds, so it was stopped."
    assert caught.value.hint
    assert soffice_processes() == []


def test_output_over_the_limit_is_stopped(soffice: str, warm_profile: Path) -> None:
    deck = make_pptx([SlideSpec(f"Slide {i}", RED, body=("A line of text.",) * 5) for i in range(20)])
    with pytest.raises(OfficeError) as caught:
        convert_to_pdf(deck, "deck.pptx", profile_dir=warm_profile, soffice=soffice, max_output_bytes=1024)
    assert caught.value.message == "Converting 'deck.pptx' produced more than 1 KB, so it was stopped."
    assert soffice_processes() == []


# -- files that are not office documents ---------------------------------------------------------------------------
def test_random_bytes_named_docx_are_refused(soffice: str, warm_profile: Path) -> None:
    with pytest.raises(OfficeError) as caught:
        convert_to_pdf(random_bytes(), "minutes.docx", profile_dir=warm_profile, soffice=soffice)
    assert caught.value.message == ("'minutes.docx' is not a readable Word document: its contents do not match "
                                    "its name.")
    assert "export it as PDF" in caught.value.hint


def test_a_damaged_document_libreoffice_cannot_load_is_reported_with_its_log(soffice: str,
                                                                               warm_profile: Path) -> None:
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types")
        archive.writestr("word/document.xml", "not a document")
    with pytest.raises(OfficeError) as caught:
        convert_to_pdf(broken.getvalue(), "broken.docx", profile_dir=warm_profile, soffice=soffice)
    assert caught.value.message == "LibreOffice could not convert 'broken.docx'."
    assert "could not be loaded" in caught.value.detail  # LibreOffice's own words, for the details view
    assert soffice_processes() == []


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", "empty.pptx", "'empty.pptx' is empty (0 bytes)."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "locked.xlsx", "'locked.xlsx' is protected with a password."),
    (make_pdf([]), "report.odt", "'report.odt' is not a readable OpenDocument text: its contents do not match its "
                                 "name."),
    (random_bytes(), "old.ppt", "'old.ppt' is not a readable PowerPoint presentation: its contents do not match its "
                                "name."),
    (b"hello", "notes.txt", "'notes.txt' is not a document the app can convert."),
])
def test_files_that_cannot_be_their_kind_are_refused_before_libreoffice(data: bytes, name: str,
                                                                        message: str) -> None:
    with pytest.raises(OfficeError) as caught:
        check_document(data, name)
    assert caught.value.message == message
    assert caught.value.hint


@pytest.mark.parametrize(("data", "name"), [
    (b"<html><body><table><tr><td>1</td></tr></table></body></html>", "export.xls"),  # what many sites call .xls
    (b"{\\rtf1\\ansi Hello}", "letter.rtf"),
    (b"{\\rtf1\\ansi Hello}", "letter.doc"),
])
def test_old_formats_saved_as_text_are_let_through(data: bytes, name: str) -> None:
    assert check_document(data, name) == Path(name).suffix[1:]


def test_office_kinds_name_every_format() -> None:
    assert set(OFFICE_KINDS) >= {"pptx", "ppt", "docx", "doc", "xlsx", "xls", "odp", "odt", "ods"}


# -- finding LibreOffice ---------------------------------------------------------------------------------------------
def test_a_missing_override_makes_office_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "soffice"
    environ = {**os.environ, SOFFICE_ENV: str(missing)}
    status = office_availability(environ)
    assert not status.available
    assert status.reason == f"GLMV_SOFFICE names '{missing}', which does not exist."
    assert "GLMV_SOFFICE" in status.how_to_fix
    assert find_soffice(environ) is None


def test_the_override_is_used_when_it_exists(soffice: str) -> None:
    environ = {SOFFICE_ENV: soffice, "PATH": ""}
    assert find_soffice(environ) == soffice
    assert office_availability(environ).available


def test_without_libreoffice_the_fix_is_this_systems_install_command(tmp_path: Path) -> None:
    status = office_availability({"PATH": str(tmp_path)})
    if find_soffice({"PATH": str(tmp_path)}) is not None:
        pytest.skip("LibreOffice is installed where the app looks beyond the PATH")
    assert not status.available
    assert status.how_to_fix == install_hint()


@pytest.mark.parametrize(("platform", "os_release", "command"), [
    ("linux", 'ID=debian\nVERSION_ID="12"', "sudo apt install libreoffice-impress libreoffice-writer libreoffice-calc"),
    ("linux", "ID=linuxmint\nID_LIKE=\"ubuntu debian\"", "sudo apt install libreoffice-impress"),
    ("linux", "ID=fedora", "sudo dnf install libreoffice-impress libreoffice-writer libreoffice-calc"),
    ("linux", 'ID="rocky"\nID_LIKE="rhel centos fedora"', "sudo dnf install"),
    ("linux", 'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"', "sudo zypper install"),
    ("linux", "ID=arch", "sudo pacman -S libreoffice-fresh"),
    ("linux", "ID=gentoo", "your distribution's packages"),
    ("darwin", None, "brew install --cask libreoffice"),
    ("win32", None, "winget install TheDocumentFoundation.LibreOffice"),
])
def test_install_hint_fits_the_system(platform: str, os_release: str | None, command: str) -> None:
    assert command in install_hint(platform, os_release)


# -- macros ----------------------------------------------------------------------------------------------------------
def scripting_settings(xcu: Path) -> dict[str, str]:
    """The macro settings in a profile's registrymodifications.xcu, as LibreOffice wrote or kept them."""
    import re

    found = {}
    for name, value in re.findall(rf'<item oor:path="{SECURITY}"><prop oor:name="(\w+)" oor:op="fuse">'
                                  r"<value>([^<]*)</value>", xcu.read_text(encoding="utf-8")):
        found[name] = value
    return found


def test_a_new_profile_forbids_macros_before_libreoffice_first_starts(tmp_path: Path) -> None:
    xcu = secure_profile(tmp_path / "profile")
    assert xcu == tmp_path / "profile" / "user" / "registrymodifications.xcu"
    assert scripting_settings(xcu) == {"MacroSecurityLevel": "3", "DisableMacrosExecution": "true",
                                       "BlockUntrustedRefererLinks": "true"}


def test_libreoffice_keeps_the_macro_settings_it_was_given(soffice: str, tmp_path: Path) -> None:
    # GIVEN a profile someone set to run every macro, and a setting LibreOffice does not know
    profile = tmp_path / "profile"
    xcu = profile / "user" / "registrymodifications.xcu"
    xcu.parent.mkdir(parents=True)
    xcu.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f'<item oor:path="{SECURITY}"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>0</value>'
        "</prop></item>\n"
        f'<item oor:path="{SECURITY}"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>false</value>'
        "</prop></item>\n"
        f'<item oor:path="{SECURITY}"><prop oor:name="NoSuchSetting" oor:op="fuse"><value>1</value></prop></item>\n'
        "</oor:items>\n", encoding="utf-8")
    # WHEN a document is converted with it (LibreOffice rewrites the file as it quits, dropping names it does not know)
    convert_to_pdf(make_docx(["Macros off."]), "macros.docx", profile_dir=profile, soffice=soffice)
    # THEN the file LibreOffice wrote holds our settings, so LibreOffice read them as its own
    settings = scripting_settings(xcu)
    assert "NoSuchSetting" not in settings
    assert settings == {"MacroSecurityLevel": "3", "DisableMacrosExecution": "true",
                        "BlockUntrustedRefererLinks": "true"}

