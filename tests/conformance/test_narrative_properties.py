"""Property tests of the narrative check against how a browser reads a div: viewers show it as
HTML (innerHTML), whose tokenizer (WHATWG HTML §13.2.5) ends some markup where XML does not
and keeps tabs and newlines in attributes where XML makes them spaces. A div the check accepts
holds no script for HTML either, and a div HTML reads as XML does is not refused for the
markup HTML reads otherwise."""

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.conformance.narrative import narrative_problem, read_xhtml

SETTINGS = settings(max_examples=400, deadline=None)
SCRIPT = "<img src=x onerror=alert(1)>"
# Pieces of comments, CDATA sections and instructions: what makes HTML end them early, and
# a script for HTML to find after.
MARKUP_PIECES = st.sampled_from(["-", ">", "->", "?", "]]", "<", "!", "x", " ", SCRIPT])
HREF_PIECES = st.sampled_from(["java", "vb", "script", ":", "\t", "\n", "\r", "&#9;", " ", "x"])
_HTML_START_TAG = re.compile(r"<[a-zA-Z][^>]*>")
_HTML_ATTRIBUTE = re.compile(r"""([^\s=/>]+)=(?:"([^"]*)"|'([^']*)'|([^\s>]*))""")
_URL_DROPPED = str.maketrans("", "", "\t\n\r")
_URL_TRIMMED = "".join(map(chr, range(0x21)))
_SCRIPT_SCHEMES = ("javascript:", "vbscript:")


def _html_comment_end(div: str, at: int) -> int:
    """Where HTML ends a comment whose text starts at `at`: at once after `>` or `->`
    (abrupt-closing-of-empty-comment), else after the first `-->` or `--!>`."""
    for opened_closed in (">", "->"):
        if div.startswith(opened_closed, at):
            return at + len(opened_closed)
    ends = [found + len(end) for end in ("-->", "--!>") if (found := div.find(end, at)) >= 0]
    return min(ends, default=len(div))


def _html_start_tags(div: str) -> list[str]:
    """The start tags an HTML tokenizer finds: outside SVG and MathML, `<![CDATA[`, `<?`,
    `</` and other `<!` open a bogus comment that ends at the first `>`."""
    tags, at = [], 0
    while (at := div.find("<", at)) >= 0:
        if div.startswith("<!--", at):
            at = _html_comment_end(div, at + 4)
        elif (tag := _HTML_START_TAG.match(div, at)) is not None:
            tags.append(tag.group())
            at = tag.end()
        elif div.startswith(("<!", "<?", "</"), at):
            at = div.find(">", at) + 1 or len(div)
        else:
            at += 1
    return tags


def _runs_script_in_html(div: str) -> bool:
    """An event attribute, or a URL a browser runs (WHATWG URL: references resolved, tabs and
    newlines dropped, C0 controls and spaces around it trimmed)."""
    for tag in _html_start_tags(div):
        for name, *values in _HTML_ATTRIBUTE.findall(tag):
            url = html.unescape("".join(values)).translate(_URL_DROPPED).strip(_URL_TRIMMED)
            if name.lower().startswith("on") or url.lower().startswith(_SCRIPT_SCHEMES):
                return True
    return False


def _refused(div: str) -> bool:
    found = narrative_problem(read_xhtml(div))
    return found is not None and found[0] == "error"


def _div(inner: str) -> str:
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{inner}</div>'


@st.composite
def _hiding_markup(draw: st.DrawFn) -> str:
    """A comment, CDATA section, instruction or link whose text is drawn from the pieces."""
    text = "".join(draw(st.lists(MARKUP_PIECES, max_size=6)))
    href = "".join(draw(st.lists(HREF_PIECES, max_size=6)))
    return draw(st.sampled_from([f"<!--{text}-->", f"<![CDATA[{text}]]>", f"<?x {text}?>",
                                 f'<a href="{href}">a</a>', f"<b>{text}</b>"]))


@SETTINGS
@given(st.lists(_hiding_markup(), min_size=1, max_size=3))
def test_a_div_the_check_accepts_runs_no_script_in_a_browser(parts):
    div = _div("".join(parts))
    assert _refused(div) or not _runs_script_in_html(div), div


@SETTINGS
@given(st.lists(st.lists(MARKUP_PIECES, max_size=6).map("".join), min_size=1, max_size=3))
def test_comments_html_ends_where_xml_does_are_accepted(texts):
    comments = [f"<!--{text}-->" for text in texts]
    div = _div("".join(comments))
    if read_xhtml(div).error is None and all(
            _html_comment_end(comment, len("<!--")) == len(comment) for comment in comments):
        assert not _refused(div), div
