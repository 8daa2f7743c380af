import pytest

from agentroute import LayerProgram, ProgramError


def test_full_and_skip():
    full = LayerProgram.full(30)
    assert len(full) == 30 and full.is_full and full.cost == 1.0 and str(full) == "0-29"
    skip = LayerProgram.skip(30, [12, 13])
    assert str(skip) == "0-11,14-29"
    assert skip.skipped == (12, 13)
    assert skip.cost == pytest.approx(28 / 30)
    assert not skip.loops


def test_parse_round_trips_with_loops():
    loop = LayerProgram.parse("0-15,15,16-29", 30)
    assert len(loop) == 31 and loop.loops and loop.cost == pytest.approx(31 / 30)
    assert loop.layers.count(15) == 2
    assert LayerProgram.parse(str(loop), 30) == loop
    assert LayerProgram.parse(" 0 - 3 , 5 ", 6).layers == (0, 1, 2, 3, 5)
    assert LayerProgram.parse("full", 4) == LayerProgram.full(4)


def test_slots_give_each_repetition_its_own_cache_slot():
    program = LayerProgram((0, 1, 1, 2, 1), 3)
    assert program.slots == ((0, 0), (1, 0), (1, 1), (2, 0), (1, 2))
    # skip-only programs use the layers' own full-depth slots
    assert LayerProgram.skip(4, [2]).slots == ((0, 0), (1, 0), (3, 0))


def test_value_semantics():
    a = LayerProgram.parse("0-2,4", 5)
    b = LayerProgram((0, 1, 2, 4), 5)
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1


@pytest.mark.parametrize(
    "text, n, fragment",
    [
        ("0-30", 30, "out of range"),
        ("", 30, "empty"),
        ("a-b", 30, "cannot parse"),
        ("5-3", 30, "backwards"),
        ("0,,1", 30, "cannot parse"),
    ],
)
def test_parse_errors_name_the_problem(text, n, fragment):
    with pytest.raises(ProgramError, match=fragment):
        LayerProgram.parse(text, n)


def test_invalid_programs():
    with pytest.raises(ProgramError, match="at least one layer"):
        LayerProgram((), 4)
    with pytest.raises(ProgramError, match="out of range"):
        LayerProgram((0, -1), 4)
    with pytest.raises(ProgramError, match="cannot skip"):
        LayerProgram.skip(4, [7])
    with pytest.raises(ProgramError, match="at least one layer"):
        LayerProgram.skip(2, [0, 1])
    with pytest.raises(ProgramError, match="built for 4 layers"):
        LayerProgram.coerce(LayerProgram.full(4), 6)
    with pytest.raises(ProgramError, match="n_layers"):
        LayerProgram((0,), 0)


def test_coerce_accepts_strings_lists_and_none():
    assert LayerProgram.coerce(None, 3) == LayerProgram.full(3)
    assert LayerProgram.coerce("0,2", 3).layers == (0, 2)
    assert LayerProgram.coerce([0, 0, 1], 3).layers == (0, 0, 1)
