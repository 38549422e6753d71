"""The device application: the app loop and the hardware layers (ESP32, unix port)."""
