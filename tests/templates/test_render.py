"""Rendering a body's blocks: its Markdown parsed once per shape and filled with the values
gives exactly the blocks of the rendered body parsed, as every message once did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.councils import load_councils
from notifier.errors import InvalidEvent
from notifier.messages import Heading, ListBlock, Paragraph
from notifier.templates.blocks import parse_blocks
from notifier.templates.environment import markdown_env
from notifier.templates.render import context, render_blocks
from notifier.templates.source import Catalogue, Template, parse_template

CATALOGUE = Catalogue.load()
COUNCILS = load_councils()
TEMPLATES = sorted(CATALOGUE, key=lambda t: t.event_type)
# Values that look like Markdown, HTML or list markers, or are whitespace, NUL or marks.
AWKWARD = [
    "# Heading",
    "- item",
    "* item",
    "1. item",
    "2) item",
    "3",
    "12",
    "*bold* _em_ `code`",
    "<b>bold</b> &amp; <script>x</script>",
    "[link](https://example.org)",
    "line\nbreak\r\nand\ttab",
    "  padded  ",
    " ",
    "",
    "back\\slash\\",
    "trailing #",
    "a\x00b",
    "\ue000\ue001\uf8ff",
    "{braces} {} {0}",
    "\u2028\u00a0\u3000",
    "£1,234.50",
]


def template_with(body: str, personalisation: tuple[str, ...] = ()) -> Template:
    return parse_template(
        "+++\n"
        'topic = "planning"\nstatutory = false\n'
        f"personalisation = {list(personalisation)!r}\n"
        'subject = "Subject"\nsms = "Text"\n'
        '[sample]\nreference = "REF"\n'
        f"+++\n{body}",
        event_type="test.body.rendered",
    )


def outcome(call: Any) -> object:
    try:
        return call()
    except InvalidEvent as exc:
        return ("InvalidEvent", exc.reason, exc.detail)


def parsed_every_time(template: Template, values: Mapping[str, Any]) -> object:
    """What rendering gave before bodies were parsed once: the rendered body, parsed."""
    return outcome(
        lambda: parse_blocks(markdown_env.from_string(template.body).render(values).strip())
    )


def test_catalogue_bodies_parse_once_to_the_blocks_they_always_had() -> None:
    """Every shipped template, for each council, with its sample and with each personalisation
    value replaced by Markdown, HTML, whitespace or list-marker look-alikes: the same blocks."""
    for template in TEMPLATES:
        assert template.marked is not None, template.event_type
        for council in COUNCILS.values():
            sample = template.sample.personalisation
            for awkward in [None, *AWKWARD]:
                # Values a filter can read (dates, money) stay the sample's.
                changed = {
                    k: awkward if awkward is not None and not _filtered(template, k) else v
                    for k, v in sample.items()
                }
                values = context(template, council, sample, reference="R", name=None)
                values.update(changed)
                found = outcome(lambda t=template, v=values: render_blocks(t, v))
                assert found == parsed_every_time(template, values), (template.event_type, awkward)


def _filtered(template: Template, key: str) -> bool:
    return f"{key} |" in template.body or f"{key}|" in template.body or f"{key}." in template.body


def test_values_stay_text_in_a_body_parsed_once() -> None:
    """A value that looks like a heading, a list, emphasis or HTML is the paragraph's text,
    its whitespace collapsed; the shape is parsed once and filled for the next message."""
    template = template_with("Your street: {{ street }}\n\n- {{ item }}\n- item")
    values = {"street": "# Heading\n- bullet *bold* <b>x</b>", "item": "1. {not} a list"}
    assert render_blocks(template, values) == (
        Paragraph("Your street: # Heading - bullet *bold* <b>x</b>"),
        ListBlock(("1. {not} a list", "item")),
    )
    again = render_blocks(template, {"street": "High Street", "item": "x"})
    assert again == (Paragraph("Your street: High Street"), ListBlock(("x", "item")))
    assert len(template.shapes) == 1


def test_conditionals_and_loops_parse_once_per_shape() -> None:
    """{% if %} and {% for %} give a body more than one shape: each is parsed once, and each
    message gets the blocks of its own branch and number of items."""
    template = template_with(
        "# Title\n\n{% if paid %}\nYou paid {{ amount }}.\n{% else %}\n## Not paid\n{% endif %}\n\n"
        '{% for item in items.split(";") %}\n- {{ item | trim }}\n{% endfor %}\n'
    )
    cases = [
        ({"paid": True, "amount": "£5", "items": "a; b"}, 2),
        ({"paid": False, "amount": "£5", "items": "a"}, 1),
        ({"paid": True, "amount": "£6", "items": "c;d"}, 2),
        ({"paid": False, "amount": "", "items": "x;y;z"}, 3),
    ]
    for values, items in cases:
        blocks = render_blocks(template, values)
        assert blocks == parsed_every_time(template, values)
        assert isinstance(blocks[-1], ListBlock) and len(blocks[-1].items) == items
    assert render_blocks(template, cases[0][0])[1] == Paragraph("You paid £5.")
    assert len(template.shapes) == 3  # paid with 2 items, unpaid with 1, unpaid with 3


@pytest.mark.parametrize(
    "body",
    [
        "{% filter upper %}Dear {{ name }}{% endfilter %}",
        "{% macro greet(who) %}Hello {{ who }}{% endmacro %}{{ greet(name) }} and {{ name }}",
        "{% set line %}- {{ name }}{% endset %}{{ line }}\n\n{{ line | upper }}",
        "{% for x in [name] recursive %}{{ x }}{% endfor %}",
        "Literal \ue000 then {{ name }}",
    ],
    ids=["filter-block", "macro", "set-block", "recursive-loop", "mark-in-text"],
)
def test_bodies_that_capture_output_are_parsed_every_time(body: str) -> None:
    """A body whose statements capture what is written (filter, macro, call and set blocks) or
    whose text has a mark itself is parsed with its values each time: the same blocks as ever."""
    template = template_with(body)
    assert template.marked is None
    for name in ("alex", "- alex", "# Alex"):
        assert render_blocks(template, {"name": name}) == parsed_every_time(
            template, {"name": name}
        )


@pytest.mark.parametrize(
    "body",
    ["{{ n }}. Step", "{{ n }}) Step", "- {{ n }}. nested?", "1{{ n }}. Step", "  {{ n }}{{ m }}."],
)
def test_a_value_where_a_list_number_would_be_is_parsed_with_its_values(body: str) -> None:
    """Digits of a value followed by '.' or ')' at a block's start make an ordered list (or a
    nested one, refused) that a placeholder would not: that shape is parsed with its values."""
    template = template_with(body)
    for n, m in (("3", "4"), ("x", "y"), ("12", "")):
        values = {"n": n, "m": m}
        assert outcome(lambda v=values: render_blocks(template, v)) == parsed_every_time(
            template, values
        )


def test_a_nested_list_is_refused_whether_parsed_once_or_not() -> None:
    """The restricted Markdown's refusal of a nested list comes from the parsed shape too."""
    template = template_with("- {{ a }}\n  - {{ b }}")
    with pytest.raises(InvalidEvent, match="nested lists"):
        render_blocks(template, {"a": "x", "b": "y"})


def test_syntax_errors_are_template_errors_before_any_shape() -> None:
    """A syntax error in the subject is the template error it always was, body parsed once."""
    template = template_with("Body {{ name }}")
    broken = parse_template(
        "+++\n"
        'topic = "planning"\nstatutory = false\nsubject = "{{ oops"\nsms = "Text"\n'
        '[sample]\nreference = "REF"\n+++\nBody',
        event_type="test.broken",
    )
    assert render_blocks(template, {"name": "x"}) == (Paragraph("Body x"),)
    with pytest.raises(InvalidEvent) as caught:
        render_blocks(broken, {})
    assert caught.value.reason == "template-error"


# Generated bodies: lines that start blocks (headings, bullets, numbers, indents) or continue
# them, with values at line starts, after list markers and before '.' and ')'.
line_starts = st.sampled_from(["", "# ", "## ", "- ", "* ", "+ ", "1. ", "2) ", "   ", "- 1. "])
words = st.sampled_from(["Pay", "now", "3", "12", "#", "-", ".", ")", "*x*", "\\", "{}", "1."])
placeholders = st.sampled_from(
    ["{{ a }}", "{{ b }}", "{{ c }}", "{{ a ~ b }}", "{{ c | trim }}", "{{ x | default(b) }}"]
)
segments = st.lists(words | placeholders, min_size=1, max_size=5).map(" ".join) | st.lists(
    words | placeholders, min_size=1, max_size=4
).map("".join)
lines = st.tuples(line_starts, segments, st.sampled_from(["", ".", ")", " #", "  "])).map("".join)
statements = (
    lines
    | lines.map(lambda line: f"{{% if a %}}\n{line}\n{{% endif %}}")
    | lines.map(lambda line: f"{{% for x in (c | string).split(';') %}}\n{line}\n{{% endfor %}}")
)
bodies = st.lists(
    st.tuples(statements, st.sampled_from(["\n", "\n\n"])).map("".join), min_size=1, max_size=8
).map("".join)
values = st.none() | st.sampled_from(AWKWARD) | st.text(max_size=8) | st.integers(0, 99)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies, st.fixed_dictionaries({"a": values, "b": values, "c": values}))
def test_generated_bodies_parse_once_to_the_blocks_they_always_had(
    body: str, chosen: dict[str, Any]
) -> None:
    """Any body of the language and any values: the same blocks, or the same refusal."""
    template = template_with(body)
    assert outcome(lambda: render_blocks(template, chosen)) == parsed_every_time(template, chosen)


def test_headings_keep_their_level_when_parsed_once() -> None:
    """Heading levels and ordered lists come through the shape unchanged."""
    template = template_with("## Due {{ when }}\n\n1. {{ first }}\n2. second")
    assert render_blocks(template, {"when": "today", "first": "one"}) == (
        Heading(2, "Due today"),
        ListBlock(("one", "second"), ordered=True),
    )
