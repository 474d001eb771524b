"""A freedesktop notification server for the E2E (there is no desktop shell under Xvfb).

Owns org.freedesktop.Notifications on the session bus, appends every Notify call to LOG as one
JSON line, and "clicks" each toast that offers the default action CLICK_AFTER seconds later
(ActionInvoked(id, "default"), then NotificationClosed(id, 2)), as a user clicking it would.
Needs Debian's python3-dbus and python3-gi, so run it with /usr/bin/python3:

  /usr/bin/python3 tests/app/fake_notifications.py LOG [CLICK_AFTER]
"""
import json
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = "org.freedesktop.Notifications"
log_path = sys.argv[1]
click_after = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0


class Server(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, "/org/freedesktop/Notifications")
        self.next_id = 1

    @dbus.service.method(IFACE, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["actions", "body"]

    @dbus.service.method(IFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("fake", "nas-sync-monitor tests", "1.0", "1.2")

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app_name, replaces_id, icon, summary, body, actions, hints, timeout):
        nid = self.next_id
        self.next_id += 1
        actions = [str(a) for a in actions]
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"id": nid, "app": str(app_name), "summary": str(summary),
                                "body": str(body), "actions": actions}, ensure_ascii=False) + "\n")
        if "default" in actions[::2]:
            GLib.timeout_add(int(click_after * 1000), self.click, nid)
        return nid

    @dbus.service.method(IFACE, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        self.NotificationClosed(nid, 3)

    @dbus.service.signal(IFACE, signature="us")
    def ActionInvoked(self, nid, action):
        pass

    @dbus.service.signal(IFACE, signature="uu")
    def NotificationClosed(self, nid, reason):
        pass

    def click(self, nid):
        self.ActionInvoked(nid, "default")
        self.NotificationClosed(nid, 2)
        return False


DBusGMainLoop(set_as_default=True)
bus = dbus.SessionBus()
name = dbus.service.BusName(IFACE, bus, do_not_queue=True)
server = Server(bus)
print("fake notification server ready", flush=True)
GLib.MainLoop().run()
