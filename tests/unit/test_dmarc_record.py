"""DMARC Policy Record parsing (RFC 9989 sections 4.7 and 4.8)."""

from __future__ import annotations

from spoofwatch.auth.dmarc import DmarcRecord, parse_record


def parsed(txt: str) -> DmarcRecord:
    record = parse_record(txt)
    assert record is not None, txt
    return record


# ------------------------------------------------------------------ the v tag


def test_minimal_record_has_every_default() -> None:
    record = parsed("v=DMARC1; p=none")
    assert (record.p, record.sp, record.np) == ("none", None, None)
    assert (record.adkim, record.aspf, record.psd, record.testing, record.fo) == (
        "r", "r", "u", False, "0")
    assert (record.rua, record.ruf, record.invalid_tags, record.unknown_tags) == ((), (), (), ())


def test_record_not_starting_with_v_is_not_dmarc() -> None:
    assert parse_record("p=reject; v=DMARC1") is None


def test_wrong_version_is_not_dmarc() -> None:
    assert parse_record("v=DMARC2; p=reject") is None


def test_version_value_is_case_sensitive() -> None:
    assert parse_record("v=dmarc1; p=reject") is None


def test_version_tag_name_is_case_insensitive() -> None:
    assert parsed("V=DMARC1; p=reject").p == "reject"


def test_version_without_separator_swallows_the_rest_and_is_not_dmarc() -> None:
    assert parse_record("v=DMARC1 p=reject") is None


def test_spf_record_is_not_dmarc() -> None:
    assert parse_record("v=spf1 -all") is None


def test_empty_text_is_not_dmarc() -> None:
    assert parse_record("") is None


def test_version_alone_is_a_record_without_policy() -> None:
    record = parsed("v=DMARC1")
    assert record.p is None
    assert record.applicable() is None


def test_repeated_v_tag_is_listed_invalid_and_ignored() -> None:
    record = parsed("v=DMARC1; p=reject; v=DMARC1")
    assert record.p == "reject"
    assert record.invalid_tags == ("v",)


# ------------------------------------------------------------- whitespace, case


def test_whitespace_around_separators_and_equals_is_allowed() -> None:
    record = parsed("  v = DMARC1 ;\tp = quarantine ;  sp=reject ;  ")
    assert (record.p, record.sp) == ("quarantine", "reject")


def test_trailing_semicolon_and_empty_parts_are_ignored() -> None:
    assert parsed("v=DMARC1;; p=reject;;").p == "reject"


def test_policy_values_are_case_insensitive() -> None:
    record = parsed("v=DMARC1; p=Reject; sp=QUARANTINE; np=None; adkim=S; psd=Y; t=Y")
    assert (record.p, record.sp, record.np, record.adkim, record.psd, record.testing) == (
        "reject", "quarantine", "none", "s", "y", True)


def test_tag_names_are_case_insensitive() -> None:
    record = parsed("v=DMARC1; P=reject; ASPF=s")
    assert (record.p, record.aspf) == ("reject", "s")


def test_record_split_over_two_character_strings_is_read_as_one() -> None:
    # The DNS layer concatenates the strings; the join may fall mid-tag.
    assert parsed("v=DMARC1; p=rej" + "ect; rua=mailto:d@example.com").p == "reject"


# ---------------------------------------------------------------- every tag


def test_all_tags_are_read() -> None:
    record = parsed(
        "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=n; t=y; adkim=s; aspf=s; "
        "rua=mailto:agg@example.com, mailto:agg@thirdparty.example.net; "
        "ruf=mailto:fail@example.com; fo=1:d")
    assert record == DmarcRecord(
        raw=record.raw, p="reject", sp="quarantine", np="reject", adkim="s", aspf="s", psd="n",
        testing=True, rua=("mailto:agg@example.com", "mailto:agg@thirdparty.example.net"),
        ruf=("mailto:fail@example.com",), fo="1:d")


def test_t_n_is_not_testing() -> None:
    assert parsed("v=DMARC1; p=reject; t=n").testing is False


def test_obsolete_report_size_suffix_keeps_the_uri_valid() -> None:
    assert parsed("v=DMARC1; rua=mailto:agg@example.com!10m").has_valid_rua


def test_unknown_tags_are_ignored_and_listed() -> None:
    record = parsed("v=DMARC1; p=reject; xyz=1; foo=bar")
    assert record.p == "reject"
    assert record.unknown_tags == ("xyz", "foo")


def test_removed_pct_tag_is_unknown_and_has_no_effect() -> None:
    record = parsed("v=DMARC1; p=reject; pct=0")
    assert (record.p, record.testing, record.unknown_tags) == ("reject", False, ("pct",))


def test_removed_rf_and_ri_tags_are_unknown() -> None:
    assert parsed("v=DMARC1; p=none; rf=afrf; ri=86400").unknown_tags == ("rf", "ri")


def test_part_without_equals_is_ignored() -> None:
    assert parsed("v=DMARC1; garbage; p=reject").p == "reject"


# ------------------------------------------------------------- invalid values


def test_invalid_p_leaves_p_unset_and_listed() -> None:
    record = parsed("v=DMARC1; p=block")
    assert record.p is None
    assert record.invalid_tags == ("p",)


def test_invalid_sp_is_listed_and_unset() -> None:
    record = parsed("v=DMARC1; p=reject; sp=maybe")
    assert (record.sp, record.invalid_tags) == (None, ("sp",))
    assert record.policy_tags_valid is False


def test_invalid_np_makes_policy_tags_invalid() -> None:
    assert parsed("v=DMARC1; p=reject; np=x").policy_tags_valid is False


def test_empty_p_value_is_invalid() -> None:
    assert parsed("v=DMARC1; p=; rua=mailto:a@example.com").invalid_tags == ("p",)


def test_invalid_alignment_modes_fall_back_to_relaxed() -> None:
    record = parsed("v=DMARC1; p=reject; adkim=x; aspf=strict")
    assert (record.adkim, record.aspf) == ("r", "r")
    assert record.invalid_tags == ("adkim", "aspf")


def test_invalid_psd_falls_back_to_u() -> None:
    assert parsed("v=DMARC1; p=none; psd=yes").psd == "u"


def test_invalid_t_falls_back_to_n() -> None:
    assert parsed("v=DMARC1; p=reject; t=1").testing is False


def test_fo_with_both_0_and_1_is_invalid() -> None:
    record = parsed("v=DMARC1; p=none; fo=0:1")
    assert (record.fo, record.invalid_tags) == ("0", ("fo",))


def test_rua_without_any_valid_uri_is_invalid() -> None:
    record = parsed("v=DMARC1; rua=not a uri")
    assert record.rua == ()
    assert record.has_valid_rua is False


def test_non_ascii_value_is_invalid() -> None:
    assert parsed("v=DMARC1; p=rejéct").invalid_tags == ("p",)


# ----------------------------------------------------------------- duplicates


def test_duplicate_p_makes_p_invalid() -> None:
    record = parsed("v=DMARC1; p=none; p=reject")
    assert record.p is None
    assert record.invalid_tags == ("p",)


def test_duplicate_identical_tag_is_still_invalid() -> None:
    assert parsed("v=DMARC1; p=reject; p=reject").p is None


def test_duplicate_t_falls_back_to_default() -> None:
    assert parsed("v=DMARC1; p=reject; t=y; t=y").testing is False


# ------------------------------------------------------ applying section 4.10.1


def test_valid_record_applies_as_is() -> None:
    record = parsed("v=DMARC1; p=reject; sp=none")
    assert record.applicable() is record


def test_missing_p_with_valid_rua_applies_as_p_none() -> None:
    applied = parsed("v=DMARC1; rua=mailto:agg@example.com").applicable()
    assert applied is not None
    assert (applied.p, applied.sp, applied.np) == ("none", None, None)


def test_missing_p_without_rua_does_not_apply() -> None:
    assert parsed("v=DMARC1; adkim=s").applicable() is None


def test_invalid_p_with_valid_rua_applies_as_p_none() -> None:
    applied = parsed("v=DMARC1; p=block; rua=mailto:agg@example.com").applicable()
    assert applied is not None and applied.p == "none"


def test_invalid_sp_with_valid_rua_turns_the_whole_record_into_p_none() -> None:
    applied = parsed("v=DMARC1; p=reject; sp=x; np=reject; rua=mailto:a@example.com").applicable()
    assert applied is not None
    assert (applied.p, applied.sp, applied.np) == ("none", None, None)


def test_invalid_np_without_rua_does_not_apply() -> None:
    assert parsed("v=DMARC1; p=reject; np=x").applicable() is None


def test_rua_with_one_valid_uri_among_bad_ones_is_valid() -> None:
    record = parsed("v=DMARC1; rua=bad uri, mailto:agg@example.com")
    assert record.has_valid_rua
    assert record.applicable() is not None
