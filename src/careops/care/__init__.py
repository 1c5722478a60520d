"""Care programmes (健康服务): service packages, health management, dosage checks, growth."""
