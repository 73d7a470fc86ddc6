-- The bug of the `dropper` pipeline: a trigger that quietly loses the last participant. (Like
-- every function in public it is kept from anon and authenticated, or no-public-access objects.)
CREATE FUNCTION public.drop_last_participant() RETURNS trigger LANGUAGE plpgsql
SET search_path = '' AS $$
BEGIN
    NEW.participants := NEW.participants - (jsonb_array_length(NEW.participants) - 1);
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION public.drop_last_participant() FROM PUBLIC, anon, authenticated;
CREATE TRIGGER drop_last_participant BEFORE INSERT OR UPDATE ON public.threads
    FOR EACH ROW EXECUTE FUNCTION public.drop_last_participant();
