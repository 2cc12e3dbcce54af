"""The SCIM filter parser: valid filters become a tree, malformed ones a FilterError."""

import pytest

from careaccess.interop.scim import filter as f


@pytest.mark.parametrize("text, expected", [
    ('userName eq "bjensen"', f.Compare("userName", "eq", "bjensen")),
    ('name.familyName co "O\'Malley"', f.Compare("name.familyName", "co", "O'Malley")),
    ("title pr", f.Present("title")),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', f.Compare("meta.lastModified", "gt", "2011-05-13T04:42:34Z")),
    ("active EQ true", f.Compare("active", "eq", True)),
    ("count le 10", f.Compare("count", "le", 10)),
    ('a eq "x" or b eq "y" and c eq "z"',
     f.Or(f.Compare("a", "eq", "x"), f.And(f.Compare("b", "eq", "y"), f.Compare("c", "eq", "z")))),
    ('(a eq "x" or b eq "y") and c pr',
     f.And(f.Or(f.Compare("a", "eq", "x"), f.Compare("b", "eq", "y")), f.Present("c"))),
    ('not (a sw "x")', f.Not(f.Compare("a", "sw", "x"))),
    ('emails[type eq "work" and value ew "@nhs.net"]',
     f.ValuePath("emails", f.And(f.Compare("type", "eq", "work"), f.Compare("value", "ew", "@nhs.net")))),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName ne null',
     f.Compare("urn:ietf:params:scim:schemas:core:2.0:User:userName", "ne", None)),
    ('displayName eq "quote \\" inside"', f.Compare("displayName", "eq", 'quote " inside')),
])
def test_valid_filters_parse(text, expected):
    assert f.parse(text) == expected


@pytest.mark.parametrize("text", [
    "",
    "userName",
    'userName eq',
    'userName xx "a"',
    'userName eq "unterminated',
    '(userName eq "a"',
    'userName eq "a")',
    'userName eq "a" and',
    'and userName eq "a"',
    'emails[type eq "work"',
    'userName eq bjensen',
    'not userName eq "a"',
    'userName eq "a" userName eq "b"',
    "eq eq \"a\"",
    "(" * 30 + 'a eq "b"' + ")" * 30,
    'a eq "' + "x" * 3000 + '"',
])
def test_malformed_filters_are_refused(text):
    with pytest.raises(f.FilterError):
        f.parse(text)


def test_unknown_attributes_are_refused_when_translated():
    attributes = {"username": f.Attr("user_name")}
    with pytest.raises(f.FilterError, match="cannot filter on nickName"):
        f.to_q(f.parse('nickName eq "x"'), attributes)


def test_operators_build_the_expected_lookups():
    attributes = {"displayname": f.Attr("name"), "id": f.Attr("uid", case_exact=True),
                  "meta.created": f.Attr("created_at", kind="datetime")}
    q = f.to_q(f.parse('displayName sw "Dr" and not (id eq "1") or meta.created ge "2026-01-01T00:00:00Z"'), attributes)
    text = str(q)
    # a case-insensitive sw: the folded column LIKE the folded pattern (the folded indexes' form)
    assert "_Like(Folded(F(name)), Value('Dr%'))" in text and "uid" in text and "created_at__gte" in text
    with pytest.raises(f.FilterError, match="date-time"):
        f.to_q(f.parse('meta.created gt "yesterday"'), attributes)
    with pytest.raises(f.FilterError):
        f.to_q(f.parse("displayName eq true"), attributes)
