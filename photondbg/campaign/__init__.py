"""WiFi-loss campaigns (DESIGN §6): the cycle and its classification, the boards behind it, the
background scenario a capture runs, verify-fix and its statistics.

- :mod:`.records`   outcomes, phases, the configuration and the results (campaign.json)
- :mod:`.steps`     ``@stage``: recorded steps (name, arguments, duration, error)
- :mod:`.cycle`     :class:`CycleRunner`: load -> cut -> hold -> restore -> recover -> classify,
                    and the board interface it drives (abstract methods)
- :mod:`.sim`       :class:`SimCampaign`: the simulated board (QEMU + bridge)
- :mod:`.board`     :class:`BoardCampaign`: a real Photon on the LAN (relay or prompt, serial,
                    optional probe)
- :mod:`.scenario`  :class:`WifiLossScenario`: cuts in the background while a capture waits
- :mod:`.verify`    verify-fix: two campaigns on the same schedule, verify.json/.md + chart
- :mod:`.verdict`   Fisher exact test / zero-event bound -> FIXED / NOT FIXED / INCONCLUSIVE
- :mod:`.sequential` Wald's SPRT on paired cycles: a verdict that stops once decided
- :mod:`.chart`     the outcomes-per-cycle picture
"""
