#!/usr/bin/env python3
"""A tiny MCP server over stdio for the tools-agent example, with no dependencies.

It speaks just enough of the Model Context Protocol (JSON-RPC 2.0, one message per line) for a
client to initialize, list the tools and call them: `check_stock` says how many of an item the
shop has. The runtime starts it as the `stock` handler's child process and restarts it if it
exits. The tests use the official MCP Python SDK instead; this one is here so the example needs
nothing but python3.
"""

import json
import sys

STOCK = {"kettle": 12, "teapot": 0, "mug": 140}

TOOLS = [
    {
        "name": "check_stock",
        "description": "How many of an item the shop has in stock.",
        "inputSchema": {
            "type": "object",
            "required": ["item"],
            "properties": {"item": {"type": "string", "description": "kettle, teapot or mug"}},
        },
    }
]

# Protocol versions this server can speak; it answers with the client's when it knows it.
VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]


def call_tool(params):
    name = params.get("name")
    args = params.get("arguments") or {}
    if name != "check_stock":
        raise LookupError(f"unknown tool {name!r}")
    item = str(args.get("item", "")).lower()
    if item not in STOCK:
        return {"content": [{"type": "text", "text": f"the shop does not sell {item!r}"}],
                "isError": True}
    text = json.dumps({"item": item, "in_stock": STOCK[item]})
    return {"content": [{"type": "text", "text": text}], "isError": False}


def answer(request):
    method = request.get("method")
    params = request.get("params") or {}
    if method == "initialize":
        asked = params.get("protocolVersion")
        return {
            "protocolVersion": asked if asked in VERSIONS else VERSIONS[-1],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "tools-agent-stock", "version": "1.0.0"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        return call_tool(params)
    raise NotImplementedError(method)


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as error:
            reply = {"jsonrpc": "2.0", "id": None,
                     "error": {"code": -32700, "message": f"parse error: {error}"}}
            print(json.dumps(reply), flush=True)
            continue
        if "id" not in request:
            continue  # a notification (notifications/initialized, cancelled): no answer
        try:
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer(request)}
        except NotImplementedError as error:
            reply = {"jsonrpc": "2.0", "id": request["id"],
                     "error": {"code": -32601, "message": f"method not found: {error}"}}
        except LookupError as error:
            reply = {"jsonrpc": "2.0", "id": request["id"],
                     "error": {"code": -32602, "message": str(error)}}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
