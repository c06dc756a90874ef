// Stack buffers in the hot path are written before they are read: no need to zero them.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
