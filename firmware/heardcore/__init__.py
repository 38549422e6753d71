"""heardcore: the firmware's pure logic, identical on the ESP32, the unix port and CPython.

Nothing here imports ``machine`` or touches hardware; on CPython the ``micropython``
module is provided by ``heard.mpshim``.
"""
