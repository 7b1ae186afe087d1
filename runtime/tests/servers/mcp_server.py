"""The MCP server the runtime's `mcp` adapter tests talk to (runtime/tests/mcp_tools.rs).

Built on the official Python SDK (mcp 2.3.0, `MCPServer`). The transport comes from argv:

    mcp_server.py                          stdio
    mcp_server.py streamable-http <port>   http://127.0.0.1:<port>/mcp
    mcp_server.py sse <port>               http://127.0.0.1:<port>/sse (legacy HTTP+SSE)
"""

import base64
import os
import sys

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

mcp = MCPServer("omnia-test")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
def fail(reason: str) -> str:
    """Always fails; the reason comes back as the tool's error (isError)."""
    # A ToolError's text reaches the client; any other exception's stays on the server.
    raise ToolError(reason)


@mcp.tool()
def reject(code: int, message: str) -> str:
    """Answers with a JSON-RPC error (not a tool result) of this code and message."""
    raise MCPError(code, message)


@mcp.tool()
def pid() -> int:
    """The server's process id, to tell a restarted server from the first one."""
    return os.getpid()


@mcp.tool()
def echo_env(name: str) -> str:
    """The value of the environment variable `name` (empty when unset)."""
    return os.environ.get(name, "")


@mcp.tool()
def cwd() -> str:
    """The server's working directory."""
    return os.getcwd()


@mcp.tool()
def whoami(ctx: Context) -> dict:
    """The `_meta` of this request and the x-omnia-* headers it came with (HTTP only)."""
    meta = dict(ctx.request_context.meta or {})
    headers = {}
    request = ctx.request_context.request
    if request is not None and hasattr(request, "headers"):
        headers = {k: v for k, v in request.headers.items() if k.startswith("x-omnia-")}
    return {"meta": {k: v for k, v in meta.items() if k.startswith("x-omnia-")}, "headers": headers}


# A 1x1 transparent PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@mcp.tool()
def picture() -> list:
    """A caption and a tiny PNG."""
    return ["a single pixel", Image(data=PIXEL, format="png")]


# Text content only: with the structured copy as well, the message would be twice as long.
@mcp.tool(structured_output=False)
def huge(mib: int) -> str:
    """A text of `mib` MiB."""
    return "x" * (mib * 1024 * 1024)


if __name__ == "__main__":
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if transport == "stdio":
        mcp.run("stdio")
    else:
        mcp.run(transport, host="127.0.0.1", port=int(sys.argv[2]))
