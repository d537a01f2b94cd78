"""The public surface stays small and deliberate."""

import nestedsystems


def test_all_is_sorted_and_complete() -> None:
    assert list(nestedsystems.__all__) == sorted(nestedsystems.__all__)
    for name in nestedsystems.__all__:
        assert hasattr(nestedsystems, name), name
    public = {n for n in vars(nestedsystems) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(nestedsystems, n)).__name__ == "module"}
    lazy = set(nestedsystems._LAZY)
    assert public - modules - {"import_module", "Any"} == set(nestedsystems.__all__) - lazy
