# Installation rules live next to their targets; this file is for the
# package configuration (filled in by the client library work).
