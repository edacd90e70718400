print("echo-client: not yet built")
