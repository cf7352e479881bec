"""The rule for region codes operators give: the catalogue's tree decides, or the GB/T 2260 shape
while the tree is still empty."""

import pytest

from app.services.catalogue.regions import is_division_code, unknown_among


@pytest.mark.parametrize("code", ["440000", "440100", "440106", "110105", "419001", "820000"])
def test_division_codes(code):
    assert is_division_code(code)


@pytest.mark.parametrize("code", ["999999", "000000", "440006", "440001", "4401", "44010a", "４４０１０６", "", "4401066"])
def test_not_division_codes(code):
    assert not is_division_code(code)


def test_an_empty_tree_checks_the_shape_only():
    assert unknown_among(["440106", "110105", "999999", "abc"], known=set(), tree_is_empty=True) == ["999999", "abc"]


def test_a_tree_decides_once_it_has_regions():
    codes = ["440106", "110105", "999999"]
    assert unknown_among(codes, known={"440106"}, tree_is_empty=False) == ["110105", "999999"]
