"""The bridge's WiFi access point: power and uplink cable, what the device has been told
(``LINK wifi= cloud=``), and the seeded delays between a cut or a restore and what the device
sees (:mod:`photondbg.sim.wifi`). :class:`AccessPoint` is a part of
:class:`photondbg.sim.bridge.Bridge` and runs in its loop thread.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from photondbg.sim.eventloop import EventLoop
from photondbg.sim.nat import Conn, HostListener
from photondbg.sim.wifi import Cut, Delays


class AccessPoint:
    """The AP/WiFi model of the bridge (see the module text)."""

    # the Bridge's state this part works on (set in Bridge.__init__)
    loop: EventLoop
    delays: Delays
    stats: dict[str, int]
    ap_power: bool
    uplink: bool
    dev_wifi: int
    dev_cloud: int
    _power_wanted: bool
    _link: socket.socket | None
    _hosts: dict[int, HostListener]
    _conns: dict[int, Conn]
    _zombies: list[Conn]

    if TYPE_CHECKING:  # methods of the Bridge and of its NAT part

        def _event(self, text: str) -> None: ...
        def _tell_link(self, wifi: int, cloud: int) -> None: ...
        def _forget_device(self, *, rst: bool, reason: str) -> None: ...
        def _update_conn(self, c: Conn) -> None: ...
        def _update_host(self, host: HostListener) -> None: ...
        def _release_listener(self, port: int) -> None: ...
        def _flush_peer(self, c: Conn) -> None: ...
        def _drop_zombie(self, c: Conn, rst: bool = False) -> None: ...

    @property
    def state(self) -> str:
        """``up``, ``down`` (AP without power) or ``uplink`` (cloud cable pulled)."""
        if not self.ap_power:
            return Cut.DOWN.value
        return "up" if self.uplink else Cut.UPLINK.value

    def _on_net_reset(self, conn: int) -> None:
        self.stats["net_resets"] += 1
        self._event("NET_RESET from the device: dropping its connections, re-associating")
        self._forget_device(rst=True, reason="WiFi reset")
        self._tell_link(0, 0)
        self.loop.after(self.delays.draw("reassociate"), self._reassociated)

    def _reassociated(self) -> None:
        if self.ap_power and self.dev_wifi == 0 and self._link is not None:
            self._tell_link(1, 1 if self.uplink else 0)

    def _cut(self, kind: Cut) -> None:
        self._event(f"cut {kind.value}")
        if kind is Cut.DOWN:
            self.ap_power = False
            self._power_wanted = False
            for c in self._conns.values():
                self._update_conn(c)
            for h in self._hosts.values():
                self._update_host(h)
            self.loop.after(self.delays.draw("down_detect"), self._down_detected)
        else:
            self.uplink = False
            self.loop.after(self.delays.draw("cloud_detect"), self._cloud_lost)

    def _down_detected(self) -> None:
        if self.ap_power or self.dev_wifi == 0:
            return
        self._forget_device(rst=False, reason="AP down")
        self._tell_link(0, 0)

    def _cloud_lost(self) -> None:
        if not self.uplink and self.ap_power and self.dev_wifi == 1 and self.dev_cloud == 1:
            self._tell_link(1, 0)

    def _restore(self) -> None:
        self._event("restore")
        self.uplink = True
        if not self.ap_power:
            self._power_wanted = True
            self.loop.after(self.delays.draw("ap_boot"), self._ap_up)
        elif self.dev_wifi == 1 and self.dev_cloud == 0:
            self.loop.after(self.delays.draw("cloud_return"), self._cloud_back)

    def _ap_up(self) -> None:
        if self.ap_power or not self._power_wanted:
            return
        self.ap_power = True
        self._event("AP up")
        for z in list(self._zombies):  # the device answers their retransmissions with RST
            self._drop_zombie(z, rst=True)
        for port, h in self._hosts.items():
            if h.listener_id is None and h.sock is not None:
                self._release_listener(port)
        if self._link is not None and self.dev_wifi == 0:
            self._tell_link(1, 1)
        elif self._link is not None and self.dev_cloud == 0:
            self._tell_link(1, 1)
        for c in self._conns.values():
            self._flush_peer(c)
            self._update_conn(c)
        for h in self._hosts.values():
            self._update_host(h)

    def _cloud_back(self) -> None:
        if self.uplink and self.ap_power and self.dev_wifi == 1 and self.dev_cloud == 0:
            self._tell_link(1, 1)
