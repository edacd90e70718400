print("echo-server: not yet built")
