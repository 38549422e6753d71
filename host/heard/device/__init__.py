"""Talking to heard devices: the serial link, the protocol client, sync and the emulator."""
