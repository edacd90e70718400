#!/usr/bin/env python3
"""A TCP proxy for the demos: forwards 127.0.0.1:PORT to an upstream port and, on a timetable, silently
drops every byte in both directions (a "zombie" path: nothing closes, nothing arrives), then heals.

    scripts/fault-proxy.py --upstream 50051 [--port 0] [--drop-after 2.0 --drop-for 3.0]

Prints "PORT n" once listening, and a line when the drop starts and ends. Standard library only.
"""
import argparse
import asyncio
import sys
import time

dropping = False


async def pump(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if not dropping:
                writer.write(data)
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--drop-after", type=float, default=None, help="seconds until the drop starts")
    parser.add_argument("--drop-for", type=float, default=3.0, help="seconds the drop lasts")
    args = parser.parse_args()

    async def handle(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", args.upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, upstream_writer), pump(upstream_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)

    async def timetable():
        global dropping
        if args.drop_after is None:
            return
        await asyncio.sleep(args.drop_after)
        dropping = True
        print(f"fault-proxy: {time.strftime('%H:%M:%S')} dropping every byte for {args.drop_for} s", flush=True)
        await asyncio.sleep(args.drop_for)
        dropping = False
        print(f"fault-proxy: {time.strftime('%H:%M:%S')} healed", flush=True)

    async with server:
        await asyncio.gather(server.serve_forever(), timetable())


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
