"""The report's HTML building blocks: style, escaping, tables and figures with captions.

Sizes are in QTextDocument pixels (96 per inch): the text of an A4 page is `TEXT_WIDTH` wide.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from workbench.app.qt_paint import TEXT_WIDTH
from workbench.core.names import shown

CSS = """
body { font-family: 'DejaVu Sans', sans-serif; font-size: 8.5pt; color: #000; }
p { margin-top: 2px; margin-bottom: 4px; } ul { margin-top: 0px; margin-bottom: 4px; }
h1 { font-size: 16pt; } h2 { font-size: 13pt; margin-top: 10px; margin-bottom: 4px; }
h3 { font-size: 10.5pt; margin-top: 10px; margin-bottom: 3px; }
h4 { font-size: 9pt; margin-top: 6px; margin-bottom: 2px; }
table { border-collapse: collapse; } td, th { padding: 1px 3px; border: 1px solid #999; vertical-align: top; }
th { background: #e6e6e6; text-align: left; }
table.plain td { border: none; padding: 2px; }
.hash { font-family: 'DejaVu Sans Mono', monospace; font-size: 6.5pt; }
.bad { color: #b00000; font-weight: bold; } .good { color: #006000; }
.note { color: #555; font-size: 7.5pt; }
.small { font-size: 7pt; } .tiny { font-size: 6.5pt; } .card { font-size: 7.5pt; }
.page { page-break-before: always; }
"""


def e(text: object) -> str:
    """HTML text of anything; a file name that is not UTF-8 shows its odd bytes as `\\xNN` (`shown`)."""
    return html.escape(shown(str(text)), quote=True)


def kv_table(rows: Iterable[tuple[str, object]], css: str = "") -> str:
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    return f"<table class='{css}'>{body}</table>"


def table(header: Iterable[str], rows: Iterable[Iterable[object]], css: str = "", escape: bool = True,
          widths: Iterable[int] = ()) -> str:
    """A full-width table, its columns `widths` percent wide if given; `escape=False` when the cells
    are already HTML."""
    cell = e if escape else str
    sizes = [f" width='{w}%'" for w in widths]
    head = "".join(f"<th{sizes[i] if i < len(sizes) else ''}>{e(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table width='100%' class='{css}'><tr>{head}</tr>{body}</table>"


def img(name: str, width: int, caption: str = "") -> str:
    """An image `width` document pixels wide, its caption (plain text) below."""
    below = f"<br/><span class='note'>{e(caption)}</span>" if caption else ""
    return f"<img src='{e(name)}' width='{width}'/>{below}"


def grid(cells: list[str], columns: int, widths: list[int] | None = None) -> str:
    """Cells (HTML) laid out in rows of `columns` (each `widths[i]` document pixels wide, default an
    equal share), without borders: contact sheets with real captions, figures side by side."""
    if not cells:
        return ""
    widths = widths or [TEXT_WIDTH // columns - 4] * columns  # the cells' padding fits in the 4
    padded = cells + [""] * (-len(cells) % columns)
    rows = ("<tr>" + "".join(f"<td width='{w}'>{c}</td>" for w, c in zip(widths, padded[i:i + columns], strict=True))
            + "</tr>" for i in range(0, len(padded), columns))
    return f"<table class='plain'>{''.join(rows)}</table>"


def heading(level: int, text: str, note: str = "", new_page: bool = False) -> str:
    extra = f" <span class='note'>{e(note)}</span>" if note else ""
    css = " class='page'" if new_page else ""
    return f"<h{level}{css}>{e(text)}{extra}</h{level}>"
