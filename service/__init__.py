"""The query service: one account owns the store; people reach it through a Unix socket
that knows them by the kernel's peer credentials and their OS groups' roles."""
