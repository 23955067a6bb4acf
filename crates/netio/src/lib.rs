//! Socket I/O shared by every server and client of applayer (being built).
