select * from ops.board_checks
