-- All-time check runs per worst finding, for /metrics (issue 18): a scrape reads a row per
-- severity instead of counting every run ever stored (check runs are kept with their findings
-- and snapshot, so that count read the whole table). Kept by a trigger, in the inserting
-- statement's transaction.
create table total_check_run (
    worst text primary key,
    runs bigint not null
);
insert into total_check_run (worst, runs) select worst, count(*) from check_run group by worst;
create function tlswatch_count_check_run() returns trigger
language plpgsql as $$
begin
    insert into total_check_run (worst, runs) values (new.worst, 1)
    on conflict (worst) do update set runs = total_check_run.runs + 1;
    return null;
end $$;
create trigger check_run_total after insert on check_run
for each row execute function tlswatch_count_check_run();
