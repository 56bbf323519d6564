"""Break-glass: request, custodian approvals, quorum reveal (on the store or from a
signed bundle), each step ledgered. See docs/design.md, "The identity vault and
break-glass"."""
