"""The demo's titles fit its people's given names (or are neutral), and choosing them changes
nothing else in the plan, so a demo loaded before still matches it person for person."""

from careaccess.directory import demo


def test_no_demo_title_contradicts_the_given_name():
    people = demo.build_plan().people
    assert len(people) > 300
    for p in people:
        if p.given_name in demo.MASCULINE_NAMES:
            assert p.title not in ("Mrs", "Ms", "Miss"), (p.title, p.given_name)
        elif p.given_name in demo.FEMININE_NAMES:
            assert p.title != "Mr", (p.title, p.given_name)
        else:
            assert p.title in ("Mx", "Dr", ""), (p.title, p.given_name)
    assert {"Mr", "Ms", "Mx"} <= {p.title for p in people}  # still varied


def test_the_title_keeps_the_draw_where_it_fits():
    assert demo._title_for("Thomas", "Miss") == "Mr" and demo._title_for("Laura", "Mr") == "Ms"
    assert demo._title_for("Laura", "Miss") == "Miss" and demo._title_for("Wei", "Ms") == "Mx"
    assert demo._title_for("David", "Mx") == "Mx" and demo._title_for("Ben", "") == ""
