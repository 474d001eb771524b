"""Ask an X11 window to close the way a window manager's close button does (WM_DELETE_WINDOW),
so the app's CloseRequested handler runs; Xvfb has no window manager. Usage: close_window.py ID"""
import sys

from Xlib import X, display
from Xlib.protocol import event

d = display.Display()
w = d.create_resource_object("window", int(sys.argv[1]))
proto = d.intern_atom("WM_PROTOCOLS")
delete = d.intern_atom("WM_DELETE_WINDOW")
ev = event.ClientMessage(window=w, client_type=proto, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
w.send_event(ev, event_mask=X.NoEventMask)
d.flush()
