"""The pytorch-patterns MCP server (mcp SDK 2.x). Start it with `pytorch-patterns serve`."""
