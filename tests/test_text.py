"""ldnsim._text: the one-line and suggestion helpers every layer's messages use."""
from ldnsim._text import SHIPPED_NAME, one_line, suggest


def test_one_line_joins_lines_and_keeps_spaces_inside_them():
    assert one_line("a\nb\r\nc") == "a b c"
    assert one_line("unknown key '  '") == "unknown key '  '"  # a key of two spaces survives
    assert one_line(ValueError()) == "ValueError"
    assert one_line(ValueError("x\ny")) == "x y"


def test_suggest_and_shipped_names():
    assert suggest("sceanrio", ["scenario", "sweep"]) == " (did you mean 'scenario'?)"
    assert suggest("zzz", ["scenario"]) == ""
    assert SHIPPED_NAME.match("pk_single-dose") and not SHIPPED_NAME.match("a/b.toml")
