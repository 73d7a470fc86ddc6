-- The bug of the `dropper` pipeline: a trigger that quietly loses the last participant.
CREATE FUNCTION public.drop_last_participant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.participants := NEW.participants - (jsonb_array_length(NEW.participants) - 1);
    RETURN NEW;
END
$$;
CREATE TRIGGER drop_last_participant BEFORE INSERT OR UPDATE ON public.threads
    FOR EACH ROW EXECUTE FUNCTION public.drop_last_participant();
