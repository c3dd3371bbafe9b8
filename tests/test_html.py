"""html_to_paragraphs (feed-entry fragments) and extract_page (whole pages, via trafilatura)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.core.html import extract_page, html_to_paragraphs


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("<p>One &amp; two</p><p>Three</p>", ["One & two", "Three"]),
        ("<div>a</div><div>b<div>c</div>d</div>", ["a", "b", "c", "d"]),
        ("<ul><li>first</li><li>second <b>bold</b>er</li></ul>", ["first", "second bolder"]),
        ("<h2>Head</h2>text after", ["Head", "text after"]),
        ("<blockquote>quoted</blockquote><pre>  code\n  more</pre>", ["quoted", "code more"]),
        ("<figure><img src=x.jpg><figcaption>Caption</figcaption></figure>", ["Caption"]),
        ("<table><tr><td>1</td><td>2</td></tr><tr><th>3</th></tr></table>", ["1 2", "3"]),
        ("line one<br>line two", ["line one line two"]),
        ("para one<br><br>para two<br/> <br />para three", ["para one", "para two", "para three"]),
        ("<p>x<br>\n<br>\n<br>y</p>", ["x", "y"]),
        ("a<script>alert('no')</script>b<style>p{}</style><noscript>ns</noscript>", ["ab"]),
        ('<iframe src="https://ads.example/">frame text</iframe><p>kept</p>', ["kept"]),
        ("<p>&nbsp;</p><p>x&nbsp;&nbsp; y\t\n z</p>", ["x y z"]),
        ("<p>caf&eacute; &#8220;quoted&#8221; &#x263A;</p>", ["café “quoted” ☺"]),
        ("plain text, no tags", ["plain text, no tags"]),
        ("<p>a<!-- hidden --> b</p>", ["a b"]),
        ("<html><head><title>T</title></head><body><p>B</p></body></html>", ["B"]),
        ("<p>unclosed <b>bold <i>italic</p><p>next", ["unclosed bold italic", "next"]),
        ('<a href="/x">link</a> text', ["link text"]),
    ],
)
def test_html_to_paragraphs(fragment: str, expected: list[str]) -> None:
    assert html_to_paragraphs(fragment) == expected


@pytest.mark.parametrize(
    "fragment", ["", "   \n\t", "<p></p><div> </div>", "<script>x</script>", "<br><br>", "\x00\x01"]
)
def test_html_to_paragraphs_nothing(fragment: str) -> None:
    assert html_to_paragraphs(fragment) == []


def test_html_to_paragraphs_survives_control_chars_and_surrogates() -> None:
    assert html_to_paragraphs("<p>a\x00b\x0bc\ud800d</p>") == ["a b c d"]


def test_html_to_paragraphs_deep_nesting() -> None:
    assert html_to_paragraphs("<div>" * 1000 + "deep" + "</div>" * 1000) == ["deep"]
    # Past libxml2's own depth cap (about 2,000) text may be lost, but nothing raises.
    assert isinstance(html_to_paragraphs("<div>" * 20000 + "deeper"), list)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_html_to_paragraphs_never_raises_on_text(fragment: str) -> None:
    paragraphs = html_to_paragraphs(fragment)
    assert all(p and p == p.strip() and "  " not in p for p in paragraphs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<br>",
                "<div>",
                "</div>",
                "<script>",
                "</script>",
                "&amp;",
                "&#0;",
                "&bogus;",
                "<b>",
                "</i>",
                "<!--",
                "-->",
                "<![CDATA[",
                "]]>",
                "text",
                " ",
                "\n",
                "<li>",
                "<table><tr><td>",
            ]
        )
    )
)
def test_html_to_paragraphs_never_raises_on_tag_soup(parts: list[str]) -> None:
    html_to_paragraphs("".join(parts))


def test_extract_page_reads_content_and_metadata(fixtures_dir: Path) -> None:
    page = extract_page((fixtures_dir / "page.html").read_bytes(), "https://times.example.com/some-other-url")
    assert page is not None
    assert page.title == "Library Opens Late-Night Reading Room"
    assert page.published == datetime(2021, 5, 28, 16, 45, tzinfo=UTC)
    assert page.authors == ("Maria Costa",)
    assert page.url == "https://times.example.com/2021/05/28/library-reading-room"  # canonical wins
    assert page.sitename == "Example Times"
    assert page.language == "en"
    text = page.text
    assert "late-night reading room on Friday" in text
    assert "quiet study booths" in text
    assert "ignore me" not in text and "All rights reserved" not in text
    assert all(p == p.strip() and p for p in page.paragraphs)


def test_extract_page_from_str_and_without_url(fixtures_dir: Path) -> None:
    page = extract_page((fixtures_dir / "page.html").read_text("utf-8"), None)
    assert page is not None and page.url == "https://times.example.com/2021/05/28/library-reading-room"


def test_extract_page_declared_charset() -> None:
    body = "<p>Die Straßenbahn fährt wieder durch die Innenstadt, nachdem die Gleise erneuert wurden.</p>"
    head = '<head><meta charset="iso-8859-1"><title>Tram</title></head>'
    html = f"<html>{head}<body><article>{body}</article></body></html>"
    page = extract_page(html.encode("iso-8859-1"), None)
    assert page is not None
    assert "Straßenbahn fährt" in page.text


def test_extract_page_json_ld_date() -> None:
    html = (
        "<html><head><title>T</title>"
        '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2020-02-03T04:05:06Z"}</script>'
        "</head><body><article><p>" + "Words of a real article body. " * 10 + "</p></article></body></html>"
    )
    page = extract_page(html, None)
    assert page is not None and page.published == datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    "html",
    [
        b"",
        b"   ",
        b"<html><head><title>Empty</title></head><body><nav><a href='/'>Home</a></nav></body></html>",
        b"\x00\xff\xfe garbage \x01\x02",
        "<p>\ud800</p>",
    ],
)
def test_extract_page_none_without_main_text(html: bytes | str) -> None:
    assert extract_page(html, None) is None


def test_extract_page_no_text_fixture(fixtures_dir: Path) -> None:
    assert extract_page((fixtures_dir / "no_text.html").read_bytes(), None) is None


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=2000))
def test_extract_page_never_raises(data: bytes) -> None:
    extract_page(data, None)
