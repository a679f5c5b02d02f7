"""Write callflow-host plugins in Python: 8x8 voice events in, callflows out.

A plugin answers 8x8 voice webhooks. The host parses each webhook into an event, hands
it to the plugin, checks the :class:`Callflow` the plugin answers with against 8x8's
rules and sends it to the platform::

    from callflow_sdk import CallAction, Callflow, Plugin, Say, export_plugin

    class Greeter(Plugin):
        def handle(self, event, ctx):
            if not isinstance(event, CallAction):
                return None  # status updates and summaries need no answer
            greeting = ctx.require_config("greeting")
            ctx.info("greeting a caller")
            return Callflow().say(Say(greeting, "en-US-BenjaminRUS").speed(1.0)).hangup()

    export_plugin(Greeter)

The same code runs under plain ``pytest`` with :mod:`callflow_sdk.testing`, and
``callflow-py build app -o plugin.wasm`` makes it the component the host runs (with
``componentize-py``, which the ``build`` extra installs).

The names follow the Rust SDK's: :class:`Callflow`, :class:`Say`,
:class:`SayAndCapture`, :class:`MakeCall`, :class:`PlayFile`, :class:`Context`, the
errors :class:`BadEvent`, :class:`Unavailable` and :class:`Internal`.
"""

from __future__ import annotations

from typing import Optional

from . import api
from .callflow import Action, Callflow, Hangup, MakeCall, PlayFile, Say, SayAndCapture
from .context import (
    BadEvent,
    Context,
    Internal,
    Kv,
    KvError,
    Level,
    PluginError,
    Unavailable,
)
from .events import (
    Call,
    CallAction,
    CallDirection,
    CallStatus,
    CallStatusEvent,
    Event,
    NumberState,
    RecordingStatus,
    SessionStatus,
    SessionSummary,
    VirtualNumberUpdate,
)

#: The plugin contract (WIT package) this SDK builds against.
CONTRACT = "callflow:plugin@0.2.0"

__all__ = [
    "CONTRACT",
    "Action",
    "BadEvent",
    "Call",
    "CallAction",
    "CallDirection",
    "CallStatus",
    "CallStatusEvent",
    "Callflow",
    "Context",
    "Event",
    "Hangup",
    "Internal",
    "Kv",
    "KvError",
    "Level",
    "MakeCall",
    "NumberState",
    "PlayFile",
    "Plugin",
    "PluginError",
    "RecordingStatus",
    "Say",
    "SayAndCapture",
    "SessionStatus",
    "SessionSummary",
    "Unavailable",
    "VirtualNumberUpdate",
    "api",
    "export_plugin",
    "exported_plugin",
]


class Plugin:
    """What a plugin implements: one event in, maybe a callflow out.

    For a ``CALL_ACTION``, the returned :class:`Callflow` is what the caller gets next;
    ``None`` or a raised :class:`PluginError` gives the caller the tenant's fallback. For
    every other event the returned callflow is ignored: return ``None``.

    Every event runs in a fresh instance: keep what must outlive an event in
    ``ctx.kv()``, and where the caller is in your flow in the callflow's
    ``client_action_id``, which 8x8 echoes back in the next call action.
    """

    def handle(self, event: Event, ctx: Context) -> Optional[Callflow]:
        raise NotImplementedError("a plugin implements handle(event, ctx)")

    def api(self, request: api.Request, ctx: Context) -> api.Response:
        """Serves one request to the tenant's API. The default serves none: 404."""
        return api.Response.not_found()


_exported: Optional[Plugin] = None


def export_plugin(plugin: type[Plugin] | Plugin) -> None:
    """Makes ``plugin`` the component's ``handler`` and ``api`` exports: call it once, in
    the module you build, with the plugin's class."""
    global _exported
    instance = plugin() if isinstance(plugin, type) else plugin
    if not isinstance(instance, Plugin):
        raise TypeError(f"{plugin!r} is not a callflow_sdk.Plugin")
    _exported = instance


def exported_plugin() -> Plugin:
    """The plugin :func:`export_plugin` registered."""
    if _exported is None:
        raise RuntimeError("no plugin exported: call callflow_sdk.export_plugin(YourPlugin)")
    return _exported
