"""``heard flash``: put MicroPython and the heard firmware on an ESP32 and provision it.

``plan`` lays the run out as data (so ``--dry-run`` prints exactly what a real run
does), ``run`` carries it out, ``tools`` runs esptool and mpremote, ``image`` checks the
firmware image and the chip, ``identity`` decides the device id and secret, ``command`` is
the click command. Steps and files: docs/FLASHING.md.
"""
