from hypothesis import given
from hypothesis import strategies as st

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


# -- every branch of decide() ---------------------------------------------------------------


def test_baseline_never_crashed_and_candidate_clean_is_inconclusive():
    """Nothing to fix was shown: a clean candidate proves nothing against a clean baseline."""
    v = decide(counts(ok=30), counts(ok=30))
    assert v.verdict == "INCONCLUSIVE" and v.p_value == 1.0
    assert v.baseline_rate == v.candidate_rate == 0.0
    assert v.candidate_upper_bound is not None


def test_candidate_crashing_where_the_baseline_never_did_is_not_fixed():
    v = decide(counts(ok=3), counts(ok=2, crash=1))  # too few cycles for p, still a regression
    assert v.verdict == "NOT FIXED"
    assert v.candidate_upper_bound is None


def test_candidate_significantly_worse_is_not_fixed():
    v = decide(counts(ok=29, crash=1), counts(ok=15, lockup=15))
    assert v.verdict == "NOT FIXED" and v.p_value > 0.99


def test_fewer_crashes_without_significance_is_inconclusive():
    v = decide(counts(ok=7, crash=3), counts(ok=9, crash=1))
    assert v.candidate_rate < v.baseline_rate and v.p_value >= 0.05
    assert v.verdict == "INCONCLUSIVE"


def test_lockup_and_hang_count_as_crashes_no_recovery_does_not():
    v = decide(counts(ok=10, lockup=10, hang=10), counts(ok=10, norec=20))
    assert v.table == {
        "baseline": {"crashed": 20, "survived": 10},
        "candidate": {"crashed": 0, "survived": 30},
    }
    assert (v.verdict, v.recovery) == ("FIXED", "FAIL")


def test_recovery_looks_at_the_candidate_only():
    assert decide(counts(ok=5, crash=20, norec=5), counts(ok=30)).recovery == "PASS"
    assert decide(counts(ok=5, crash=25), counts(ok=29, norec=1)).recovery == "FAIL"


def test_alpha_moves_the_line():
    b, c = counts(ok=6, crash=4), counts(ok=10)  # p = C(10,4)/C(20,4) = 0.043
    assert decide(b, c, alpha=0.05).verdict == "FIXED"
    assert decide(b, c, alpha=0.01).verdict == "INCONCLUSIVE"


def test_an_empty_run_is_refused():
    import pytest

    with pytest.raises(ValueError):
        decide(counts(), counts(ok=3))
    with pytest.raises(ValueError):
        decide(counts(ok=3), counts())


def test_recovery_window_scales_with_the_slowest_boot(tmp_path):
    """NO_RECOVERY is judged over max(configured window, 4 x slowest boot-to-serving)."""
    from photondbg.campaign.cycle import RECOVERY_MARGIN, CycleRunner
    from photondbg.campaign.records import CampaignConfig

    class Board(CycleRunner):  # only the window is asked: no board methods run
        setup = http_port = cut_wifi = restore_wifi = crashed = alive_age = device_gone = (
            serve_again
        ) = bring_back = teardown = serving_note = lambda self, *a: None

    runner = Board(
        CampaignConfig(elf=tmp_path / "x.elf", recovery=6.0), owner=None, logdir=tmp_path
    )
    assert runner.recovery_window() == 6.0  # no boot seen yet
    runner.result.boot_to_serving += [0.3, 0.4]
    assert runner.recovery_window() == 6.0  # a fast machine: the configured window
    runner.result.boot_to_serving.append(2.5)  # a loaded one
    assert runner.recovery_window() == RECOVERY_MARGIN * 2.5
