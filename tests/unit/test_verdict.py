from hypothesis import given, strategies as st

from photondbg.campaign.verdict import decide, zero_event_upper_bound


def counts(ok=0, crash=0, lockup=0, hang=0, norec=0):
    return {"OK": ok, "CRASH": crash, "LOCKUP": lockup, "HANG": hang, "NO_RECOVERY": norec}


def test_clear_fix_with_recovery_failure():
    v = decide(counts(ok=14, crash=10, lockup=6), counts(ok=10, norec=20))
    assert v.verdict == "FIXED"
    assert v.recovery == "FAIL"
    assert v.p_value < 0.001
    assert 0 < v.candidate_upper_bound < 0.15  # 0 of 30: rate < 9.5 % at 95 %


def test_full_fix_recovers():
    v = decide(counts(ok=20, crash=10), counts(ok=30))
    assert (v.verdict, v.recovery) == ("FIXED", "PASS")


def test_too_few_cycles_is_inconclusive():
    v = decide(counts(ok=2, crash=1), counts(ok=3))
    assert v.verdict == "INCONCLUSIVE"


def test_candidate_crashing_as_often_is_not_fixed():
    v = decide(counts(ok=20, crash=10), counts(ok=19, hang=11))
    assert v.verdict == "NOT FIXED"


def test_zero_event_bound_matches_rule_of_three():
    # the "rule of three": 0 events in n trials -> about 3/n at 95 %
    assert abs(zero_event_upper_bound(100) - 3 / 100) < 0.002


@given(st.lists(st.integers(0, 40), min_size=10, max_size=10))
def test_decide_never_breaks_and_rates_are_consistent(n):
    b, c = counts(*n[:5]), counts(*n[5:])
    if sum(n[:5]) == 0 or sum(n[5:]) == 0:
        return
    v = decide(b, c)
    assert v.verdict in ("FIXED", "NOT FIXED", "INCONCLUSIVE")
    assert 0.0 <= v.p_value <= 1.0
    if v.verdict == "FIXED":
        assert v.candidate_rate < v.baseline_rate
