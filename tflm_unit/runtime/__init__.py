"""Host execution of (UnIT) int8 ``.tflite`` models through the C core."""
