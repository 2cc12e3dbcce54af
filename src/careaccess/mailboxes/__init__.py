"""Care-home mailbox applications, mailbox and shared-mailbox naming and provisioning."""
